"""Seeing inside: the recorded graph, the backward pass step by step, a model's table, an
optimizer's step explained.

The script prints, in order:

1. the graph autograd recorded for a tiny MLP's loss, as a text tree (each op with its shape and
   dtype, the parameters by name), and writes the same graph as Graphviz DOT to a file
   (``minillm.viz.render`` draws it to SVG where Graphviz is installed);
2. the backward pass of that loss, one node at a time (``loss.backward_steps()``): each op's local
   derivative as its docstring states it, the norm of the gradient that reached it and of those it
   sent on; then the check that the ``.grad``s equal a plain ``backward()``'s;
3. ``minillm.summary`` of a small GPT: one row per module call, with FLOPs; three times its
   forward FLOPs per token is exactly ``GPT.flops_per_token()`` (forward + backward);
4. Adam and AdamW explaining one step of the same weight, side by side: the same moments and
   update, but Adam's weight decay enters the gradient (an L2 term, then divided by sqrt(v)),
   while AdamW's shrinks the weight directly (``lr * wd * p``).

Run:  python examples/14_see_the_graph.py     (about a second)
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

import minillm
from minillm import nn, optim, viz
from minillm.models.gpt import GPT, GPTConfig
from minillm.nn import functional as F


def tiny_mlp_loss() -> tuple[minillm.Tensor, nn.Module]:
    """A 2 -> 3 -> 2 MLP on four points, float64, and its cross-entropy loss."""
    minillm.manual_seed(0)
    model = nn.Sequential(nn.Linear(2, 3), nn.Tanh(), nn.Linear(3, 2)).to(np.float64)
    x = minillm.randn(4, 2, dtype=np.float64)
    y = minillm.tensor([0, 1, 1, 0])
    return F.cross_entropy(model(x), y), model


def main() -> None:
    print("1. The recorded graph of a tiny MLP's loss")
    loss, model = tiny_mlp_loss()
    names = dict(model.named_parameters())
    print(viz.graph(loss, params=names))
    dot_path = Path(tempfile.gettempdir()) / "minillm_mlp_graph.dot"
    dot_path.write_text(viz.graph(loss, format="dot", params=names))
    print(f"(DOT written to {dot_path}; render it with minillm.viz.render(text, 'graph.svg'))\n")

    print("2. The backward pass, one node at a time")
    by_id = {id(p): name for name, p in names.items()}
    for step in loss.backward_steps():
        leaf = f"   <- {by_id[id(step.tensor)]}.grad" if id(step.tensor) in by_id else ""
        print(f"{step}{leaf}")
    stepped = {name: p.grad.data.copy() for name, p in model.named_parameters()}
    loss, model = tiny_mlp_loss()  # the same graph again, for a plain backward()
    loss.backward()
    same = all(np.array_equal(stepped[n], p.grad.data) for n, p in model.named_parameters())
    print(f"the .grads equal backward()'s, bit for bit: {same}\n")

    print("3. summary() of a small GPT")
    minillm.manual_seed(0)
    gpt = GPT(GPTConfig(vocab_size=64, block_size=16, n_layer=2, n_head=2, n_embd=32))
    T = 16
    table = minillm.summary(gpt, minillm.randint(0, 64, (2, T)))
    print(table)
    print(
        f"3 x forward FLOPs per token = {3 * table.flops_per_token:,.0f};  "
        f"gpt.flops_per_token({T}) = {gpt.flops_per_token(T):,}\n"
    )

    print("4. Adam vs AdamW: one weight, three steps, the last one explained")
    rng = np.random.default_rng(0)
    start = rng.standard_normal(4)
    grads = [rng.standard_normal(4) for _ in range(3)]
    explained = {}
    for kind in (optim.Adam, optim.AdamW):
        w = minillm.tensor(start.copy(), requires_grad=True)
        opt = kind([w], lr=0.1, weight_decay=0.1)
        for g in grads:
            w.grad = minillm.tensor(g)
            opt.step()
        explained[kind.__name__] = str(opt.explain(w)).splitlines()
    left, right = explained["Adam"], explained["AdamW"]
    width = max(len(line) for line in left)
    for a, b in zip(left, right):
        print(f"{a:<{width}}  |  {b}")


if __name__ == "__main__":
    main()
