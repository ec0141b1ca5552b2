"""Custom layers written from the notes' formulas."""

from custom_layers.layers.conv2d import Conv2D
from custom_layers.layers.dense import Dense

__all__ = ["Conv2D", "Dense"]
