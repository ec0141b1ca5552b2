"""Benchmarks: custom_layers against the Keras built-ins, each a script that
prints its table and writes it where the docs site includes it
(``benchmarks.report``). Run as commands (``python -m benchmarks.<name>``),
they start as the recipes' commands do: TensorFlow's start-up lines off the
console (``recipes.process``)."""

from recipes import process as _process

if _process.started_as_command("benchmarks"):
    _process.start_command()
