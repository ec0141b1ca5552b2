"""The train step traced from the custom objects stays about the size of the
built-ins' step: the count of ops that ``python -m benchmarks.fit_cost --ops``
prints, a figure that, unlike the first epoch's seconds, does not move with
the machine's load."""

import keras
import pytest

from benchmarks import fit_cost

# custom ops / built-in ops, at most. TensorFlow's built-in sparse CE is one
# fused kernel (forward and gradient), where the twin writes the formula out
# and checks the labels.
LIMITS = {"binary, logistic": 1.1, "binary, network": 1.1, "multi-label": 1.1}
LIMITS["multi-class"] = 1.25 if keras.backend.backend() == "tensorflow" else 1.1


def test_the_custom_train_steps_trace_about_as_many_ops_as_the_builtins(capsys):
    counts = fit_cost.main(["--ops", "--models", *LIMITS])["ops"]
    printed = capsys.readouterr().out
    for name, limit in LIMITS.items():
        custom, builtin = counts[name]["custom"], counts[name]["builtin"]
        assert f"{name}" in printed and f"{custom / builtin:.2f}x" in printed
        assert custom <= limit * builtin, (name, custom, builtin)


@pytest.mark.parametrize("name", ["regression"])
def test_twins_of_the_same_ops_trace_the_same_step(name):
    # Dense without activation, MSE and plain gradient descent: the same ops
    # as the built-ins', so the counts agree exactly.
    counts = fit_cost.ops_table([name])[name]
    assert counts["custom"] == counts["builtin"] > 0
