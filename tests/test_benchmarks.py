"""The Conv2D benchmark runs end to end and reports every row (timings are
never asserted: they belong to the printed table, not to the tests)."""

import math
import os
import pathlib
import shlex
import subprocess
import sys

import pytest

from benchmarks import conv2d, conv2d_profile


def _assert_written(path, command, *cells):
    """The table file the docs include: how and where it was measured, and
    the figures the console showed."""
    text = path.read_text()
    first = text.splitlines()[0]
    assert first.startswith("*Measured on 20") and f"`{command}`" in first, first
    assert "cores" in first and "Keras 3." in first and "KERAS_BACKEND=" in first, first
    for cell in cells:
        assert cell in text, (cell, text)


@pytest.mark.slow
def test_conv2d_benchmark_prints_and_writes_every_row(capsys, tmp_path):
    table = tmp_path / "conv2d.md"
    argv = ["--repeats", "1", "--steps", "1", "--cnn-samples", "256", "--table", str(table)]
    argv += ["--grid", "MNIST 28x28x1"]  # one layer of the grid
    results = conv2d.main(argv)
    printed = capsys.readouterr().out
    # (a) three rows, (b), (c), (d) dilated, (e) grouped; the grid layer in three modes
    assert len(results) == 7 + len(conv2d.GRID_MODES)
    for name, figures in results.items():
        assert name in printed
        assert all(math.isfinite(v) and v > 0 for v in figures.values()), (name, figures)
        assert f"{figures['ratio']:.2f}x" in table.read_text()
    rows = [f"| {name} |" for name in list(results)[:7]]
    command = f"python -m benchmarks.conv2d {shlex.join(argv)}"  # the flags it ran with
    _assert_written(table, command, *rows, "| MNIST 28x28x1 -> 32 |")


@pytest.mark.slow
def test_conv2d_profile_times_every_stage_of_the_rows_asked_for(capsys, tmp_path):
    table = tmp_path / "profile.md"
    argv = ["--repeats", "1", "--batch", "2", "--only", "MNIST 14x14", "--table", str(table)]
    rows = conv2d_profile.main(argv)
    printed = capsys.readouterr().out
    assert [row[0] for row in rows] == ["MNIST 14x14x32 -> 64"]
    *times, by_windows, by_tiles = map(float, rows[0][1:])  # a 3x3 stride-1 layer: no "–"
    assert len(times) == len(conv2d_profile.COLUMNS) and all(t > 0 for t in times)
    built_in = times[0]
    for stage, ratio in (("product", by_windows), ("tile products", by_tiles)):
        product = times[conv2d_profile.COLUMNS.index(stage)]
        # the times are printed to 0.01 ms, so the ratio of the printed times is
        # only known within that rounding; the ratio must lie inside it
        half = 0.005
        assert (product - half) / (built_in + half) - 0.005 <= ratio, stage
        assert ratio <= (product + half) / (built_in - half) + 0.005, stage
    assert " | ".join(rows[0]) in printed
    # a layer the tiles do not compute (stride 2): its tile cells say so
    windows_only = {"built-in": 2.0, "custom": 3.0, "windows": 1.0, "product": 1.5}
    times, ratios = ["2.00", "3.00", "1.00", "1.50", "–", "–"], ["0.75", "–"]
    assert conv2d_profile._cells(windows_only) == [*times, *ratios]
    command = f"python -m benchmarks.conv2d_profile {shlex.join(argv)}"
    _assert_written(table, command, "| " + " | ".join(rows[0]) + " |")


@pytest.mark.slow
def test_mlp_benchmark_reports_a_ratio(capsys, tmp_path):
    from benchmarks import mlp

    table = tmp_path / "mlp.md"
    argv = ["--repeats", "1", "--samples", "512", "--table", str(table)]
    result = mlp.main(argv)
    assert "ratio" in capsys.readouterr().out
    command = f"python -m benchmarks.mlp {shlex.join(argv)}"
    _assert_written(table, command, f"{result['ratio']:.3f}x", "| custom |")
    assert set(result["seconds"]) == {"custom", "builtin"}
    assert all(math.isfinite(v) and v > 0 for v in result["seconds"].values())
    assert math.isfinite(result["ratio"]) and result["ratio"] > 0


@pytest.mark.slow
def test_fit_cost_benchmark_writes_both_ratios_per_model(capsys, tmp_path):
    from benchmarks import fit_cost

    table = tmp_path / "fit-cost.md"
    models = ["regression", "multi-class"]
    argv = ["--repeats", "1", "--samples", "64", "--epochs", "1", "--models", *models]
    argv += ["--table", str(table)]
    result = fit_cost.main(argv)
    printed = capsys.readouterr().out
    assert list(result["models"]) == models
    for name, figures in result["models"].items():
        first, step = f"{figures['first']:.2f}x", f"{figures['step']:.2f}x"
        assert name in printed and first in printed and step in printed
        command = f"python -m benchmarks.fit_cost {shlex.join(argv)}"
        _assert_written(table, command, f"| {name} |", first, step)
        seconds = [v for pair in figures["seconds"].values() for v in pair]
        assert len(seconds) == 4 and all(math.isfinite(v) and v > 0 for v in seconds)


@pytest.mark.slow
def test_fidelity_table_meets_the_targets():
    """The printed figures, recomputed: every element-wise difference within
    the fidelity targets, and every Keras-ε optimizer twin on the built-in's
    trajectory (a short one here; the README's table is 100 steps)."""
    from benchmarks import fidelity

    rows = list(fidelity.elementwise_rows())
    assert len(rows) >= 16
    for name, forward, gradient in rows:
        assert forward <= 1e-6 and gradient <= 1e-5, (name, forward, gradient)
    trajectories = dict(fidelity.trajectory_rows(steps=8))
    assert len(trajectories) == 8
    for name, worst in trajectories.items():
        if "notes eps" not in name:
            assert worst <= 1e-4, (name, worst)


@pytest.mark.slow
def test_fidelity_writes_the_table_it_prints(capsys, tmp_path):
    from benchmarks import fidelity

    table = tmp_path / "fidelity.md"
    argv = ["--steps", "8", "--table", str(table)]
    result = fidelity.main(argv)
    printed = capsys.readouterr().out
    name, forward, gradient = result["elementwise"][0]
    command = f"python -m benchmarks.fidelity {shlex.join(argv)}"
    _assert_written(table, command, f"| {name} | {forward} | {gradient} |")
    assert name.strip("`") in printed
    assert len(result["trajectories"]) == 8
    for name, worst in result["trajectories"]:
        assert f"| {name} | {worst} |" in table.read_text()


@pytest.mark.slow
def test_a_benchmark_command_keeps_the_console_clean(tmp_path):
    # As from a user's shell: none of the variables a recipes command sets.
    from tests.test_recipes import _FRAMEWORK_LOG, _SET_BY_RECIPES

    env = {k: v for k, v in os.environ.items() if k not in _SET_BY_RECIPES}
    table = tmp_path / "mlp.md"
    command = ["-m", "benchmarks.mlp", "--repeats", "1", "--samples", "256", "--table", str(table)]
    result = subprocess.run(
        [sys.executable, *command],
        capture_output=True,
        text=True,
        env=env,
        cwd=pathlib.Path(__file__).resolve().parent.parent,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    said = result.stdout + result.stderr
    assert not _FRAMEWORK_LOG.findall(said), said
    assert "throughput ratio" in result.stdout and table.is_file()


_KNOWN = "optimizers.py::Adam.get_config::drop 'epsilon_placement'"


def test_mutation_finds_the_mutants_it_names_and_applies_them():
    from benchmarks import mutation

    found = {m.id: m for m in mutation.mutants(["optimizers.py"])}
    assert {m.operator for m in found.values()} >= {"config", "argument", "raise", "constant"}
    mutant = found[_KNOWN]
    source = (mutation.ROOT / "custom_layers" / "optimizers.py").read_bytes()
    mutated = mutant.apply(source).decode()
    compile(mutated, "optimizers.py", "exec")
    assert mutated.count('"epsilon_placement": self.epsilon_placement') == 0
    # an argument stored in __init__ replaced by its default
    stored = found["optimizers.py::Adam.__init__::self.beta_1 = 0.9"]
    assert "self.beta_1 = 0.9" in stored.apply(source).decode()
    for known in mutation.EQUIVALENT:  # every equivalent mutant still exists
        assert known.split("::")[0] in mutation.TARGETS, known


@pytest.mark.slow  # two pytest processes on a copy of the project
def test_mutation_run_kills_a_known_mutant_and_writes_its_table(tmp_path):
    from benchmarks import mutation

    table = tmp_path / "mutation.md"
    argv = ["--match", _KNOWN, "--tests", "tests/test_config_round_trips.py"]
    result = mutation.main([*argv, "--table", str(table), "--timeout", "120"])
    ((mutant, status, _),) = result["results"].values()
    assert mutant.id == _KNOWN and status == "killed"
    assert result["summary"]["score"] == 1.0
    _assert_written(table, "python -m benchmarks.mutation", "| `optimizers.py` | 1 | 1 | 0 | 0 |")
    assert (mutation.ROOT / "custom_layers" / "optimizers.py").read_text().count(
        '"epsilon_placement": self.epsilon_placement'
    ) == 1  # the working tree is untouched
