"""The Conv2D benchmark runs end to end and reports every row (timings are
never asserted: they belong to the printed table, not to the tests)."""

import math

import pytest

from benchmarks import conv2d


@pytest.mark.slow
def test_conv2d_benchmark_prints_every_row(capsys):
    results = conv2d.main(["--repeats", "1", "--steps", "1", "--cnn-samples", "256"])
    table = capsys.readouterr().out
    assert len(results) == 7  # (a) three rows, (b), (c), (d) dilated, (e) grouped
    for name, figures in results.items():
        assert name in table
        assert all(math.isfinite(v) and v > 0 for v in figures.values()), (name, figures)


@pytest.mark.slow
def test_mlp_benchmark_reports_a_ratio(capsys):
    from benchmarks import mlp

    result = mlp.main(["--repeats", "1", "--samples", "512"])
    assert "ratio" in capsys.readouterr().out
    assert set(result["seconds"]) == {"custom", "builtin"}
    assert all(math.isfinite(v) and v > 0 for v in result["seconds"].values())
    assert math.isfinite(result["ratio"]) and result["ratio"] > 0


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
