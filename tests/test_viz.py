"""``minillm.viz``: the recorded graph as a text tree and as Graphviz DOT, and ``render``.

Every recorded op appears once (a node reached again is marked ``(see above)``), with its op name,
shape and dtype; named parameters carry their names; after ``backward(retain_graph=True)`` leaves
and retained non-leaves show their gradient's norm. The DOT parses as a graph of the same nodes
and edges; ``render`` without Graphviz raises an ImportError that says how to install it.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

import minillm as mi
from minillm import nn, viz


def mlp_loss() -> tuple[mi.Tensor, nn.Module]:
    mi.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))
    x, y = mi.randn(5, 3), mi.randint(0, 2, (5,))
    return nn.functional.cross_entropy(model(x), y), model


def test_the_text_tree_names_ops_parameters_and_shapes():
    loss, model = mlp_loss()
    text = viz.graph(loss, params=dict(model.named_parameters()))
    lines = text.splitlines()
    assert lines[0] == "CrossEntropy () float32"
    for name, p in model.named_parameters():
        assert f"{name} {p.shape} float32" in text
    assert "Linear (5, 4) float32" in text and "Tanh (5, 4) float32" in text
    assert "constant (5, 3) float32" in text  # the input
    assert "|grad|" not in text


def test_a_shared_node_is_marked_and_not_expanded_twice():
    x = mi.tensor([1.0, 2.0], requires_grad=True)
    y = x.exp()
    z = (y * y + y).sum()
    text = viz.graph(z)
    assert text.count("Exp (2,) float32") == 3
    assert text.count("(see above)") == 2
    assert text.count("leaf (2,) float32") == 1


def test_gradients_show_after_a_retained_backward():
    loss, model = mlp_loss()
    hidden = loss._ctx.parents[0]
    hidden.retain_grad()
    loss.backward(retain_graph=True)
    text = viz.graph(loss, params=dict(model.named_parameters()))
    w = model[0].weight
    norm = float(np.linalg.norm(w.grad.data))
    assert f"0.weight (4, 3) float32 |grad| {norm:.4g}" in text
    assert re.search(r"Reshape \(5, 2\) float32 \|grad\| \S+", text)  # retained non-leaf
    assert re.search(r"Linear \(5, 2\) float32$", text, flags=re.M)  # not retained


def test_the_dot_has_one_node_per_tensor_and_an_edge_per_input():
    loss, model = mlp_loss()
    dot = viz.graph(loss, format="dot", params=dict(model.named_parameters()))
    assert dot.startswith("digraph minillm {") and dot.rstrip().endswith("}")
    nodes = re.findall(r"^  (n\d+) \[label=", dot, flags=re.M)
    edges = re.findall(r"^  (n\d+) -> (n\d+);", dot, flags=re.M)
    # loss <- CE <- Linear(x3 inputs) <- Tanh <- Linear(x3) : 2 ops + ... count them from the graph
    seen, stack, n_edges = set(), [loss], 0
    while stack:
        t = stack.pop()
        if id(t) in seen:
            continue
        seen.add(id(t))
        parents = () if t._ctx is None else t._ctx.parents
        n_edges += len(parents)
        stack.extend(parents)
    assert len(nodes) == len(set(nodes)) == len(seen) and len(edges) == n_edges
    assert '"0.weight (4, 3) float32"' in dot and "lightblue" in dot


def test_quotes_in_labels_are_escaped_and_bad_formats_raise():
    x = mi.tensor([1.0], requires_grad=True)
    dot = viz.graph(x * 2, "dot", params={'a "quoted" name': x})
    assert r"a \"quoted\" name" in dot
    with pytest.raises(ValueError, match="format"):
        viz.graph(x, "svg")


def test_a_deep_chain_prints_without_recursion():
    x = mi.tensor([1.0], requires_grad=True)
    y = x
    for _ in range(1500):  # deeper than Python's recursion limit
        y = y * 1.0
    assert len(viz.graph(y).splitlines()) == 1500 * 2 + 1  # each Mul, its constant; the leaf
    assert viz.graph(y, "dot").count("->") == 3000


def test_render_without_graphviz_says_how_to_install(monkeypatch, tmp_path):
    import builtins
    import shutil

    real_import = builtins.__import__

    def no_graphviz(name, *args, **kwargs):
        if name == "graphviz":
            raise ImportError("no graphviz")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_graphviz)
    monkeypatch.setattr(shutil, "which", lambda _: None)
    with pytest.raises(ImportError, match="apt install graphviz"):
        viz.render(viz.graph(mi.tensor([1.0], requires_grad=True) * 2, "dot"), tmp_path / "g.svg")


@pytest.mark.skipif(
    __import__("shutil").which("dot") is None, reason="Graphviz's dot is not installed"
)
def test_render_writes_an_svg(tmp_path):
    x = mi.tensor([1.0], requires_grad=True)
    out = viz.render(viz.graph(x * 2, "dot"), tmp_path / "g.svg")
    assert out.read_text().lstrip().startswith(("<?xml", "<svg"))
