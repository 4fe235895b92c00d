"""See the recorded graph: ``graph(t)``, a plain-text tree or Graphviz DOT; ``render`` to a file.

What this module owns: a walk over what autograd recorded (each tensor's ``_ctx.parents``, the
links ``backward()`` follows) that labels each node with its op name, shape and dtype, a leaf with
its parameter name when ``params`` names it, and, once a backward has run, the norm of each
``.grad`` (leaves, and non-leaves that called ``retain_grad``). A plain ``backward()`` frees the
graph it walked, so draw before it, or run ``backward(retain_graph=True)`` to draw with gradients.
DOT is text: it needs no Graphviz; only ``render`` does, and it says how to install it.

Read next: ``minillm/backward_steps.py`` (the same graph, walked by the backward pass).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np

from minillm.tensor import Tensor


def _label(t: Tensor, names: dict[int, str]) -> str:
    """``Mul (3, 4) float64``, ``weight (4, 3) float32 |grad| 1.2``, ``input (2,) float32``."""
    if t._ctx is not None:
        kind = t._ctx.fn.__name__
    elif id(t) in names:
        kind = names[id(t)]
    else:
        kind = "leaf" if t.requires_grad else "constant"
    text = f"{kind} {tuple(t.shape)} {t.dtype}"
    if t.grad is not None:
        norm = float(np.sqrt(np.sum(np.square(t.grad.data, dtype=np.float64))))
        text += f" |grad| {norm:.4g}"
    return text


def _inputs(t: Tensor) -> tuple[Tensor, ...]:
    """The tensors ``t`` was computed from (none for a leaf, or once backward freed the graph)."""
    return () if t._ctx is None else tuple(t._ctx.parents)


def _text(root: Tensor, names: dict[int, str]) -> str:
    """The graph as an indented tree, the root first; a node reached again says ``(see above)``.

    Iterative (an explicit stack), so a chain of any depth prints.
    """
    lines: list[str] = []
    seen: set[int] = set()
    stack: list[tuple[Tensor, str, str]] = [(root, "", "")]  # (node, its prefix, children's)
    while stack:
        node, prefix, child_prefix = stack.pop()
        if id(node) in seen:
            lines.append(f"{prefix}{_label(node, names)} (see above)")
            continue
        seen.add(id(node))
        lines.append(prefix + _label(node, names))
        kids = _inputs(node)
        for k in reversed(range(len(kids))):  # pushed last-first, so printed first-first
            last = k == len(kids) - 1
            branch, more = ("`-- ", "    ") if last else ("|-- ", "|   ")
            stack.append((kids[k], child_prefix + branch, child_prefix + more))
    return "\n".join(lines)


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _dot(root: Tensor, names: dict[int, str]) -> str:
    """The graph in Graphviz DOT: one node per tensor, edges from each input to its op's output
    (the forward direction: the backward pass runs them the other way)."""
    ids: dict[int, str] = {}
    lines = ["digraph minillm {", "  rankdir=BT;", '  node [fontname="monospace", fontsize=10];']
    edges: list[tuple[int, str]] = []  # (id of an input, the DOT name of its consumer)
    stack = [root]
    while stack:
        node = stack.pop()
        if id(node) in ids:
            continue
        ids[id(node)] = name = f"n{len(ids)}"
        if node._ctx is not None:
            style = "shape=ellipse"
        elif id(node) in names:
            style = 'shape=box, style=filled, fillcolor="lightblue"'
        else:
            style = "shape=box" + (", style=dashed" if not node.requires_grad else "")
        lines.append(f"  {name} [label={_quote(_label(node, names))}, {style}];")
        for parent in _inputs(node):
            stack.append(parent)
            edges.append((id(parent), name))
    lines += [f"  {ids[p]} -> {child};" for p, child in edges]
    return "\n".join([*lines, "}"]) + "\n"


def graph(tensor: Tensor, format: str = "text", params: dict[str, Tensor] | None = None) -> str:  # noqa: A002
    """The graph autograd recorded for ``tensor``, as a text tree or as Graphviz DOT.

    Args:
        tensor: usually a loss; the walk goes back from it through every recorded op.
        format: ``"text"`` (an indented tree, shared nodes marked ``(see above)``) or ``"dot"``.
        params: names for leaves, as ``dict(model.named_parameters())``; other leaves read
            ``leaf`` (requires grad) or ``constant``.

    Returns:
        The text, or the DOT source (give it to ``render``, or paste it into any Graphviz viewer).

    >>> import minillm
    >>> w = minillm.tensor([1.0, 2.0], requires_grad=True)
    >>> x = minillm.tensor([3.0, 4.0])
    >>> loss = (w * x).sum()
    >>> print(graph(loss, params={"w": w}))
    Sum () float32
    `-- Mul (2,) float32
        |-- w (2,) float32
        `-- constant (2,) float32
    >>> loss.backward(retain_graph=True)
    >>> print(graph(loss, params={"w": w}).splitlines()[2])
        |-- w (2,) float32 |grad| 5
    >>> graph(loss, "dot").startswith("digraph minillm {")
    True
    """
    names = {id(t): name for name, t in (params or {}).items()}
    if format == "text":
        return _text(tensor, names)
    if format == "dot":
        return _dot(tensor, names)
    raise ValueError(f"graph: format must be 'text' or 'dot', got {format!r}")


_INSTALL = (
    "install Graphviz's `dot` program (apt install graphviz, brew install graphviz, or conda "
    "install graphviz; `pip install graphviz` is only its Python wrapper), or open the .dot "
    "text in any Graphviz viewer"
)


def render(dot_text: str, path: str | Path) -> Path:
    """Draw DOT text to ``path`` with Graphviz; the format follows the suffix (``.svg``,
    ``.png``, ``.pdf``, ...). Raises ImportError, saying how to install it, without Graphviz.

    Uses the ``graphviz`` Python package when it is installed, else the ``dot`` program directly.

    >>> import minillm
    >>> x = minillm.tensor([1.0], requires_grad=True)
    >>> try:
    ...     render(graph(x * 2, "dot"), "/tmp/minillm-viz-doctest.svg").suffix
    ... except ImportError:  # no Graphviz here: the error says how to get it
    ...     '.svg'
    '.svg'
    """
    path = Path(path)
    fmt = path.suffix.lstrip(".").lower() or "svg"
    try:
        import graphviz  # type: ignore[import-not-found]
    except ImportError:
        graphviz = None
    if graphviz is not None:
        try:
            data = graphviz.Source(dot_text).pipe(format=fmt)
        except graphviz.ExecutableNotFound:
            raise ImportError(
                f"render: the graphviz package is here but not `dot`; {_INSTALL}"
            ) from None
    else:
        dot = shutil.which("dot")
        if dot is None:
            raise ImportError(f"render needs Graphviz: {_INSTALL}")
        result = subprocess.run(
            [dot, f"-T{fmt}"], input=dot_text.encode(), capture_output=True, check=False
        )
        if result.returncode != 0:
            raise ValueError(f"render: dot failed: {result.stderr.decode().strip()}")
        data = result.stdout
    path.write_bytes(data)
    return path
