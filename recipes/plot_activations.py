"""Draw every activation of the notes with its table derivative, one PNG.

Each derivative curve is the backward pass of ``custom_layers.activations``
(``tf.GradientTape``, or ``jax.vjp`` with ``KERAS_BACKEND=jax``, through
the custom gradient), drawn over the notes' formula for it as dots, so the
picture shows that the two agree.

    python -m recipes.plot_activations [--output activations.png]
"""

import argparse

import numpy as np
from keras import ops

from custom_layers import activations
from custom_layers._backend import gradients
from recipes import pictures

PANELS = [
    ("ReLU: max(0, z)", activations.relu, lambda z: np.where(z > 0, 1.0, 0.0)),
    ("Linear: z", activations.linear, lambda z: np.ones_like(z)),
    ("Sigmoid: 1/(1+e^-z)", activations.sigmoid, lambda z: (s := 1 / (1 + np.exp(-z))) * (1 - s)),
    ("Tanh", activations.tanh, lambda z: 1 - np.tanh(z) ** 2),
    ("Leaky ReLU (α = 0.01)", activations.leaky_relu, lambda z: np.where(z > 0, 1.0, 0.01)),
]


def draw(path, z_range=4.0):
    from matplotlib.figure import Figure

    z = np.linspace(-z_range, z_range, 401)
    dots = np.linspace(-z_range, z_range, 33) + 1e-3  # off the kink at 0
    fig = Figure(figsize=(4 * len(PANELS), 3.6), layout="tight")
    axes = fig.subplots(1, len(PANELS), sharex=True)
    for ax, (title, fn, table) in zip(axes, PANELS, strict=True):
        ax.plot(z, ops.convert_to_numpy(fn(z)), label="g(z)")
        ax.plot(z, gradients(fn, z)[1][0], label="g'(z), backward pass")
        ax.plot(dots, table(dots), "k.", markersize=3, label="g'(z), the notes' table")
        ax.axhline(0, color="grey", linewidth=0.5)
        ax.axvline(0, color="grey", linewidth=0.5)
        ax.set_title(title)
        ax.set_xlabel("z")
    axes[0].legend(loc="upper left", fontsize=8)
    return pictures.show(fig, path, dpi=90)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", default="activations.png")
    args = parser.parse_args(argv)
    path = draw(args.output)
    print(f"wrote {path}")
    return path


if __name__ == "__main__":
    main()
