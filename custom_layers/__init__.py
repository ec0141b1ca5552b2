"""The formulas of the ML notes as custom Keras objects.

Everything here is registered with Keras under the package name
``custom_layers``, so a saved ``.keras`` model that uses it reloads after
``import custom_layers``.
"""

from custom_layers import activations, losses, optimizers
from custom_layers.activations import leaky_relu, linear, relu, sigmoid, softmax, tanh
from custom_layers.convert import to_builtin, to_custom
from custom_layers.layers import Conv2D, Dense
from custom_layers.losses import (
    BinaryCrossentropy,
    CategoricalCrossentropy,
    MeanSquaredError,
    SparseCategoricalCrossentropy,
)
from custom_layers.optimizers import Adam, GradientDescent, RMSprop

__version__ = "0.1.0"

__all__ = [
    "Adam",
    "BinaryCrossentropy",
    "CategoricalCrossentropy",
    "Conv2D",
    "Dense",
    "GradientDescent",
    "MeanSquaredError",
    "RMSprop",
    "SparseCategoricalCrossentropy",
    "activations",
    "leaky_relu",
    "linear",
    "losses",
    "optimizers",
    "relu",
    "sigmoid",
    "softmax",
    "tanh",
    "to_builtin",
    "to_custom",
]
