"""The pictures the recipes draw, one function each, and ``show`` to keep them.

Each drawing function takes NumPy arrays and plain values and returns a
``matplotlib.figure.Figure``. The figures are built without pyplot, so no
backend is chosen and none is changed: a script, a test and a notebook (with
its inline backend) get the same figure, and nothing opens a window.
``show(fig, path)`` writes it as PNG and, inside a Jupyter kernel, displays
it inline.

    fig = pictures.confusion_matrix(y_test, y_pred, class_names=digits)
    pictures.show(fig, "confusion.png")

matplotlib is imported inside the functions: importing this module stays
cheap for the recipes that draw nothing.

Two conventions run through the pictures. A label that contains "custom"
(the custom_layers model) is drawn wide and pale, every other one thin on
top of it, so that twins which coincide both stay visible. Train is solid,
test dashed.
"""

from recipes.pictures.classification import confusion_matrix, decision_boundary, label_accuracy
from recipes.pictures.convolution import feature_maps, kernels
from recipes.pictures.curves import learning_curves, predicted_vs_true
from recipes.pictures.display import show

__all__ = [
    "confusion_matrix",
    "decision_boundary",
    "feature_maps",
    "kernels",
    "label_accuracy",
    "learning_curves",
    "predicted_vs_true",
    "show",
]
