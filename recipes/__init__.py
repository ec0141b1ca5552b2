"""Runnable recipes: one tutorial per task type, custom_layers against the
Keras built-ins.

| recipe | task | data (offline) |
|---|---|---|
| ``recipes.binary_classification`` | logistic regression, a small network | breast cancer |
| ``recipes.regression`` | a linear unit and mean squared error | diabetes |
| ``recipes.multiclass_classification`` | softmax and its cross-entropy | 8x8 digits |
| ``recipes.multilabel_classification`` | a sigmoid per label | 8x8 digits, 4 labels |
| ``recipes.cnn_image_classification`` | the notes' Conv2D | 28x28 MNIST digits |

Each runs as a script (``python -m recipes.<name> --help``), as a notebook
(``jupytext --to ipynb``), or from Python (``main(argv)`` returns its
results); ``python -m recipes`` runs them all (``recipes.run_all``).

Importing the package changes nothing in the process. The command-line
runs set up their own process first (``recipes.process``: a quiet console,
the garbage collector spared the imports' objects).
"""

from recipes import process as _process

if _process.started_as_command():
    _process.start_command()
