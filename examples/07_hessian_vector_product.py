"""Second derivatives: a Hessian-vector product by differentiating the gradient, and what it buys.

For a loss L(w), the gradient g(w) = dL/dw is itself a function of w. Recording its computation
(``create_graph=True``) lets autograd differentiate it again: for any vector v,

    H v = d/dw <g(w), v>        (H = d^2 L / dw^2, never formed)

costs about two backward passes, whatever the number of parameters. We check H v against a
finite difference of the gradient, (g(w + eps v) - g(w - eps v)) / (2 eps), build the whole
Hessian of a tiny model column by column to see that it is symmetric, and run power iteration
(v <- H v / |H v|) to find the largest (in magnitude) curvature of the loss: the "sharpness"
that bounds the learning rate plain gradient descent can take (lr < 2 / lambda_max).

Run:  python examples/07_hessian_vector_product.py
"""

from __future__ import annotations

import numpy as np

import minillm
from minillm.autograd import grad
from minillm.nn import functional as F


def make_problem(seed: int = 0) -> tuple[minillm.nn.Module, minillm.Tensor, minillm.Tensor]:
    minillm.manual_seed(seed)
    model = minillm.nn.Sequential(
        minillm.nn.Linear(3, 4), minillm.nn.Tanh(), minillm.nn.Linear(4, 2)
    ).to("float64")
    rng = np.random.default_rng(seed)
    x = minillm.tensor(rng.standard_normal((16, 3)))
    y = minillm.tensor(rng.integers(0, 2, size=16))
    return model, x, y


def hvp(model: minillm.nn.Module, x: minillm.Tensor, y: minillm.Tensor,
        v: list[np.ndarray]) -> list[np.ndarray]:  # fmt: skip
    """H v: the gradient of <dL/dw, v>, with the first gradient recorded."""
    params = list(model.parameters())
    loss = F.cross_entropy(model(x), y)
    first = grad(loss, params, create_graph=True)
    return [h.data for h in grad(list(first), params, grad_outputs=[minillm.tensor(a) for a in v])]


def gradient(model: minillm.nn.Module, x: minillm.Tensor, y: minillm.Tensor) -> list[np.ndarray]:
    return [g.data for g in grad(F.cross_entropy(model(x), y), list(model.parameters()))]


def shift(model: minillm.nn.Module, v: list[np.ndarray], step: float) -> None:
    with minillm.no_grad():
        for p, d in zip(model.parameters(), v):
            p.data += step * d


def main() -> None:
    model, x, y = make_problem()
    params = list(model.parameters())
    sizes = [p.data.size for p in params]
    n = sum(sizes)
    print(f"model: {n} parameters in {len(params)} tensors; loss = cross-entropy on 16 points")

    # 1. H v against a finite difference of the gradient
    rng = np.random.default_rng(1)
    v = [rng.standard_normal(p.shape) for p in params]
    hv = hvp(model, x, y, v)
    eps = 1e-5
    shift(model, v, eps)
    plus = gradient(model, x, y)
    shift(model, v, -2 * eps)
    minus = gradient(model, x, y)
    shift(model, v, eps)
    numeric = [(a - b) / (2 * eps) for a, b in zip(plus, minus)]
    err = max(float(np.abs(h - m).max()) for h, m in zip(hv, numeric))
    print(f"H v vs finite differences of the gradient: max difference {err:.1e}")
    assert err < 1e-6

    # 2. the whole Hessian, one H e_i per column: symmetric, as second derivatives commute
    columns = []
    for i in range(n):
        e = np.zeros(n)
        e[i] = 1.0
        parts = np.split(e, np.cumsum(sizes)[:-1])
        column = hvp(model, x, y, [a.reshape(p.shape) for a, p in zip(parts, params)])
        columns.append(np.concatenate([c.ravel() for c in column]))
    hessian = np.stack(columns, axis=1)
    asym = float(np.abs(hessian - hessian.T).max())
    eig = np.linalg.eigvalsh((hessian + hessian.T) / 2)
    print(f"full Hessian {hessian.shape}: max |H - H^T| = {asym:.1e}; "
          f"eigenvalues from {eig[0]:.4f} to {eig[-1]:.4f}")  # fmt: skip
    assert asym < 1e-10

    # 3. power iteration with H v alone finds the largest eigenvalue
    u = [rng.standard_normal(p.shape) for p in params]
    lam = 0.0
    for _ in range(100):
        norm = np.sqrt(sum(float((a * a).sum()) for a in u))
        u = [a / norm for a in u]
        hu = hvp(model, x, y, u)
        lam = sum(float((a * b).sum()) for a, b in zip(u, hu))  # Rayleigh quotient u^T H u
        u = hu
    print(f"power iteration: lambda_max ~ {lam:.4f} (numpy, full Hessian: {eig[-1]:.4f}); "
          f"gradient descent is stable here below lr = 2 / lambda_max = {2 / lam:.2f}")  # fmt: skip
    assert abs(lam - max(abs(eig[0]), eig[-1])) < 1e-3 * abs(lam)


if __name__ == "__main__":
    main()
