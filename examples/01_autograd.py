"""A worked example of reverse-mode autograd: a two-layer MLP, checked by finite differences.

    h = tanh(x W1 + b1)            (B, H)   the hidden layer
    y = h W2 + b2                  (B, 1)   the output
    L = mean((y - t)^2)                     the loss

We run the forward pass, one backward pass, and one plain SGD step (p <- p - lr * dL/dp). Every
gradient autograd produces is compared with a central finite difference,

    dL/dp_i ~ (L(p + eps e_i) - L(p - eps e_i)) / (2 eps),

and the SGD step is checked to lower the loss. Float64 throughout, so the two agree to ~1e-9.

Run:  python examples/01_autograd.py
"""

from __future__ import annotations

import numpy as np

import minillm


def mlp_loss(
    params: dict[str, minillm.Tensor], x: minillm.Tensor, t: minillm.Tensor
) -> minillm.Tensor:
    h = (x @ params["W1"] + params["b1"]).tanh()  # (B, H)
    y = h @ params["W2"] + params["b2"]  # (B, 1)
    return ((y - t) ** 2).mean()


def finite_difference(params: dict, name: str, x: minillm.Tensor, t: minillm.Tensor) -> np.ndarray:
    """dL/d(params[name]) by central differences, one element at a time."""
    eps = 1e-6
    p = params[name].data
    numeric = np.zeros_like(p)
    with minillm.no_grad():
        for i in np.ndindex(p.shape):
            saved = p[i]
            p[i] = saved + eps
            plus = mlp_loss(params, x, t).item()
            p[i] = saved - eps
            minus = mlp_loss(params, x, t).item()
            p[i] = saved
            numeric[i] = (plus - minus) / (2 * eps)
    return numeric


def main() -> None:
    minillm.manual_seed(0)
    B, D, H = 8, 3, 5  # batch, input features, hidden units
    x = minillm.randn(B, D, dtype="float64")
    t = minillm.randn(B, 1, dtype="float64")
    params = {
        "W1": minillm.randn(D, H, dtype="float64", requires_grad=True),
        "b1": minillm.zeros(H, dtype="float64", requires_grad=True),
        "W2": minillm.randn(H, 1, dtype="float64", requires_grad=True),
        "b2": minillm.zeros(1, dtype="float64", requires_grad=True),
    }

    print("1. Forward pass: h = tanh(x W1 + b1), y = h W2 + b2, L = mean((y - t)^2)")
    loss = mlp_loss(params, x, t)
    print(f"   x {x.shape} -> h ({B}, {H}) -> y ({B}, 1);  loss = {loss.item():.6f}")

    print("2. Backward pass: loss.backward() fills p.grad for every parameter")
    loss.backward()
    print("   parameter   shape    max |autograd - finite difference|")
    worst = 0.0
    for name, p in params.items():
        err = float(np.max(np.abs(p.grad.data - finite_difference(params, name, x, t))))
        worst = max(worst, err)
        print(f"   {name:<10}  {p.shape!s:<7}  {err:.2e}")
    assert worst < 1e-7, f"autograd and finite differences disagree by {worst}"
    print(f"   every gradient matches finite differences (worst {worst:.1e})")

    print("3. One SGD step: p <- p - lr * p.grad   (lr = 0.1), under no_grad")
    lr = 0.1
    with minillm.no_grad():
        for p in params.values():
            p.data -= lr * p.grad.data
            p.grad = None
    new_loss = mlp_loss(params, x, t).item()
    print(f"   loss {loss.item():.6f} -> {new_loss:.6f}  (lower, as a step downhill should be)")
    assert new_loss < loss.item()


if __name__ == "__main__":
    main()
