"""benchmarks.before_after: the ratios it reads from a benchmark's table, the
table it prints, and that its "before" side runs the revision's package."""

import pathlib
import subprocess
import sys

import pytest

from benchmarks import before_after
from recipes import report

# The shapes of the benchmarks' tables: fit_cost's two "ratio" columns, the
# recipes' rows named by several text cells, the Conv2D grid's cells.
SECTIONS = [
    (
        "per model",
        ["model", "first epoch s", "ratio", "ms/step", "ratio"],
        [["cnn", "1.080 / 0.865", "1.25x", "6.609 / 5.904", "1.12x"]],
    ),
    (
        "Test set",
        ["recipe", "model", "metric", "custom / built-in", "fit s custom / built-in"],
        [
            ["`binary`", "logreg Dense(1), GD", "accuracy", "98 % / 98 %", "1.21 / 1.10 (1.10x)"],
            ["`binary`", "NN 16-1, Adam", "accuracy", "97.37 % / 97.37 %", "1.31 / 1.15 (1.13x)"],
            ["`binary`", "whole recipe", "", "", "6.1 s"],
        ],
    ),
    ("grid", ["layer", "predict"], [["MNIST 28x28x1 -> 32", "43945 / 59421 = 0.74x (0.80x)"]]),
]


def test_ratios_are_read_from_every_cell_that_holds_one():
    text = report.render("python -m benchmarks.example", SECTIONS)
    assert before_after.ratios(text) == {
        ("per model", "cnn", "ratio (first epoch s)"): 1.25,
        ("per model", "cnn", "ratio (ms/step)"): 1.12,
        ("Test set", "`binary` · logreg Dense(1), GD · accuracy", "fit s custom / built-in"): 1.10,
        ("Test set", "`binary` · NN 16-1, Adam · accuracy", "fit s custom / built-in"): 1.13,
        ("grid", "MNIST 28x28x1 -> 32", "predict"): 0.74,
    }


def test_the_comparison_shows_each_cell_before_and_after():
    after = before_after.ratios(report.render("python -m benchmarks.example", SECTIONS))
    before = {key: value * 2 for key, value in after.items() if "NN" not in key[1]}
    text = report.render("python -m benchmarks.before_after", before_after.compare(before, after))
    assert "| cnn | 2.50x → 1.25x | 2.24x → 1.12x |" in text
    assert "| `binary` · NN 16-1, Adam · accuracy | – → 1.13x |" in text
    assert "| MNIST 28x28x1 -> 32 | 1.48x → 0.74x |" in text
    assert [line for line in text.splitlines() if line.startswith("**")] == [
        "**per model**",
        "**Test set**",
        "**grid**",
    ]


def test_the_before_side_imports_the_revision_s_package(tmp_path):
    before_after.checkout("HEAD", tmp_path)
    probe = "import benchmarks, custom_layers; print(custom_layers.__file__, benchmarks.__file__)"
    printed = subprocess.run(
        [sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True, check=True
    ).stdout.split()
    package, benchmarks = (pathlib.Path(p) for p in printed)
    # the unpacked copy, not the working tree's package that the install points to
    assert package == tmp_path / "custom_layers" / "__init__.py"
    assert not (tmp_path / "custom_layers").is_symlink()
    assert benchmarks.resolve() == before_after.ROOT / "benchmarks" / "__init__.py"


@pytest.mark.slow
def test_a_benchmark_runs_on_both_sides_and_its_ratios_are_compared(capsys):
    argv = ["HEAD", "--rounds", "1", "--", "benchmarks.fit_cost", "--repeats", "1"]
    argv += ["--samples", "64", "--epochs", "1", "--models", "regression"]
    medians = before_after.main(argv)
    printed = capsys.readouterr().out
    assert set(medians) == {"before", "after"}
    for side in medians.values():
        assert {key[1:] for key in side} == {
            ("regression", "ratio (first epoch s)"),
            ("regression", "ratio (ms/step)"),
        }
        assert all(value > 0 for value in side.values())
    assert "python -m benchmarks.fit_cost --repeats 1" in printed
    assert "| regression |" in printed and " → " in printed


def test_a_command_is_required_and_rounds_are_positive():
    with pytest.raises(SystemExit):
        before_after.main(["HEAD"])
    with pytest.raises(SystemExit):
        before_after.main(["HEAD", "--rounds", "0", "--", "benchmarks.fit_cost"])
