"""The Conv2D benchmark runs end to end and reports every row (timings are
never asserted: they belong to the printed table, not to the tests)."""

import math

from benchmarks import conv2d


def test_conv2d_benchmark_prints_every_row(capsys):
    results = conv2d.main(["--repeats", "1"])
    table = capsys.readouterr().out
    assert len(results) == 7  # (a) three rows, (b), (c), (d) dilated, (e) grouped
    for name, figures in results.items():
        assert name in table
        assert all(math.isfinite(v) and v > 0 for v in figures.values()), (name, figures)
