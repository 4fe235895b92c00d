"""A small English synonym list of our own, for augmentation without a download.

EDA (Wei & Zou, 2019) draws synonyms from WordNet; WordNet is a download, so this is a hand-made
stand-in: groups of words that can replace one another in most sentences, general English plus
the vocabulary of software documentation (the built-in corpora are Python's docs). Each group is
a line; every word in a group is a synonym of every other. ``synonyms(word)`` looks a word up in
lower case and returns the rest of its groups, sorted, so a seeded draw is reproducible.

The list is small (a few hundred words), so most words have no synonym: the augmenters' back-off
rule then leaves them alone.

Read next: ``augment.py`` (the operations that use it).
"""

from __future__ import annotations

_GROUPS = """
big large huge great vast
small little tiny minor
fast quick rapid speedy
slow sluggish gradual
good fine decent proper
bad poor faulty
new fresh novel recent
old previous former earlier
begin start commence initiate
end finish stop terminate
make create build construct produce
get obtain fetch retrieve acquire
give provide supply offer
show display present
use employ utilize apply
change modify alter adjust
remove delete drop discard erase
add append insert include
find locate discover detect
check verify test examine inspect
need require demand
allow permit let enable
try attempt
help assist aid support
keep retain preserve hold
send transmit dispatch
receive accept
read parse load
write store save record
call invoke run execute
return yield produce
raise throw signal
convert transform translate turn
choose select pick
compare match contrast
combine merge join unite
split divide separate partition
copy duplicate clone replicate
wait pause sleep
open launch
close shut
contain hold include
describe explain document
mean denote signify indicate
ignore skip omit bypass
handle manage process treat
set assign configure
limit restrict bound cap
increase raise grow extend
decrease reduce lower shrink
value amount quantity
number count total
item element entry member
list sequence array series
part piece portion section segment
kind type sort class category
way method manner approach means
result outcome output
error mistake fault failure
problem issue trouble
task job work
goal aim purpose objective
rule policy principle
idea notion concept
example instance sample case
name label title
size length extent
place location position spot
time moment instant
file document
folder directory
path route
message notice note
word term
key identifier
default standard usual normal
simple plain basic easy
hard difficult complex tricky
common frequent usual
rare unusual uncommon
correct right accurate valid
wrong incorrect invalid
whole entire complete full
empty blank vacant
same identical equal
different distinct separate
similar alike comparable
important significant major crucial
possible feasible potential
usually normally generally typically
often frequently regularly
quickly rapidly swiftly
easily simply readily
exactly precisely
also too additionally
however nevertheless nonetheless
because since
about regarding concerning
near close
before prior
after following subsequent
happy glad pleased
sad unhappy
smart clever bright intelligent
stupid foolish silly
strong powerful mighty
weak feeble frail
rich wealthy
beautiful pretty lovely attractive
ugly hideous
angry furious mad
afraid scared frightened
funny amusing
quiet silent calm
loud noisy
clean tidy neat
dirty messy filthy
cheap inexpensive
expensive costly pricey
buy purchase
sell vend
talk speak chat converse
say state tell mention
ask inquire query
answer reply respond
look glance view watch
think believe consider
know understand
like enjoy
hate detest loathe
want wish desire
walk stroll wander
jump leap hop
car automobile vehicle
house home dwelling residence
child kid youngster
man gentleman
woman lady
friend companion pal
movie film picture
story tale narrative
city town
road street avenue
shop store
job occupation profession
"""

SYNONYM_GROUPS: tuple[tuple[str, ...], ...] = tuple(
    tuple(line.split()) for line in _GROUPS.strip().splitlines() if line.strip()
)


def _index() -> dict[str, list[str]]:
    table: dict[str, set[str]] = {}
    for group in SYNONYM_GROUPS:
        for word in group:
            table.setdefault(word, set()).update(w for w in group if w != word)
    return {word: sorted(others) for word, others in table.items()}


_TABLE = _index()


def synonyms(word: str) -> list[str]:
    """The other words of every group ``word`` (any case) belongs to, sorted; [] if none.

    >>> synonyms("Quick")
    ['fast', 'rapid', 'speedy']
    >>> synonyms("tokenizer")
    []
    """
    return list(_TABLE.get(word.lower(), ()))
