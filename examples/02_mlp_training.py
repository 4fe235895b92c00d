"""Training a small MLP with minillm.nn and Adam: forward pass, loss, backward pass, Adam steps.

The data are three interleaved spirals in the plane (300 points, 3 classes): no straight line
separates them, so the network must learn a curved decision boundary. The model is

    logits = Linear(64 -> 3)( GELU( Linear(64 -> 64)( GELU( Linear(2 -> 64)(x) ) ) ) )

trained with cross-entropy loss and Adam. The script prints, in order:

1. the model (its repr tree) and its parameter count;
2. one forward pass: the logits' shape and the initial loss, which is close to ln 3 ~ 1.0986
   because a freshly initialized network spreads its probability almost evenly over the classes;
3. one backward pass: the gradient norm of every parameter;
4. 200 Adam steps: the loss every 25 steps, falling, and the final training accuracy.

Run:  python examples/02_mlp_training.py     (a few seconds on a laptop CPU)
"""

from __future__ import annotations

import math

import numpy as np

import minillm
from minillm import nn, optim
from minillm.nn import functional as F


def spirals(n_per_class: int, n_classes: int, seed: int) -> tuple[minillm.Tensor, minillm.Tensor]:
    """Points on ``n_classes`` noisy spiral arms: inputs (N, 2) float32, labels (N,) int64."""
    rng = np.random.default_rng(seed)
    xs, ys = [], []
    for c in range(n_classes):
        r = np.linspace(0.05, 1.0, n_per_class)  # radius grows along the arm
        theta = c * 2 * np.pi / n_classes + 4.0 * r + 0.2 * rng.standard_normal(n_per_class)
        xs.append(np.stack([r * np.sin(theta), r * np.cos(theta)], axis=1))
        ys.append(np.full(n_per_class, c))
    x = np.concatenate(xs).astype(np.float32)
    y = np.concatenate(ys).astype(np.int64)
    return minillm.tensor(x), minillm.tensor(y)


def main() -> None:
    minillm.manual_seed(0)  # fixes the weight initialization
    x, y = spirals(n_per_class=100, n_classes=3, seed=0)
    model = nn.Sequential(
        nn.Linear(2, 64),
        nn.GELU(),
        nn.Linear(64, 64),
        nn.GELU(),
        nn.Linear(64, 3),
    )
    print("1. The model")
    print(model)
    print(f"   {model.num_parameters():,} parameters\n")

    print("2. Forward pass")
    logits = model(x)  # (300, 3)
    loss = F.cross_entropy(logits, y)
    print(f"   inputs {x.shape} -> logits {logits.shape}")
    print(f"   initial loss {loss.item():.4f}  (ln 3 = {math.log(3):.4f}: near-uniform guesses)\n")

    print("3. Backward pass: dL/dp for every parameter")
    loss.backward()
    for name, p in model.named_parameters():
        print(f"   {name:10s} shape {p.shape!s:9s} |grad| = {np.linalg.norm(p.grad.data):.4f}")
    print()

    print("4. Adam steps (lr = 0.01, full batch)")
    opt = optim.Adam(model.parameters(), lr=0.01)
    first = loss.item()
    for step in range(1, 201):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        if step == 1 or step % 25 == 0:
            print(f"   step {step:3d}  loss {loss.item():.4f}")
    with minillm.no_grad():
        accuracy = (model(x).argmax(dim=1) == y).data.mean()
    print(f"\n   loss {first:.4f} -> {loss.item():.4f}; training accuracy {accuracy:.1%}")
    if not loss.item() < 0.5 * first:
        raise SystemExit("the loss did not fall as expected")


if __name__ == "__main__":
    main()
