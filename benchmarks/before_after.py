"""A benchmark's ratios before and after a change, measured alternately on one machine.

    python -m benchmarks.before_after REV [--rounds 2] -- MODULE [ARGS ...]

runs ``python -m MODULE ARGS --table FILE`` (a benchmark of this repository,
or ``recipes``) twice per round: once with ``custom_layers`` as it was at
the git revision ``REV`` ("before") and once as it is in the working tree
("after"), the order swapped from one round to the next. Everything else (the
benchmark, the recipes, the built-ins it compares with) is the working
tree's, so the two sides differ only in the twins. Each run's ratios
(custom / built-in, measured in its own process against the built-in) are
read from the table it writes; the table printed here gives, per cell, the
median of the rounds' ratios before and after.

A ratio is the first ``<number>x`` of a cell (``0.53x``, ``1.21 / 1.10
(1.10x)``, ``9152 / 19056 = 0.48x (0.51x)``); columns without one are left
out. The before side is ``git archive REV custom_layers``, unpacked beside
links to the rest of the working tree, so REV's package must offer what the
benchmark calls.
"""

import argparse
import pathlib
import re
import statistics
import subprocess
import sys
import tempfile

from benchmarks import mutation
from recipes import report

ROOT = pathlib.Path(__file__).resolve().parent.parent
RATIO = re.compile(r"(\d+(?:\.\d+)?)x\b")


def tables(text):
    """The tables of a report: ``[(caption, header, rows)]``, each row a list of cells."""
    found, caption, in_table = [], "", False
    for line in text.splitlines():
        line = line.strip()
        if not line.startswith("|"):
            in_table = False
            if line.startswith("**") and line.endswith("**"):
                caption = line.strip("*")
            elif line:
                caption = ""
        elif not set(line) <= set("|-"):  # not the |---| line under a header
            cells = [cell.strip() for cell in line.strip("|").split("|")]
            if in_table:
                found[-1][2].append(cells)
            else:
                found.append((caption, cells, []))
                in_table = True
    return found


def _columns(header):
    """Column names, a repeated one followed by the column before it: fit_cost's
    two ``ratio`` columns become ``ratio (first epoch s)``, ``ratio (ms/step)``."""
    return [
        f"{name} ({header[i - 1]})" if header.count(name) > 1 and i else name
        for i, name in enumerate(header)
    ]


def _row_name(cells):
    """The first cell and the text cells after it, up to the first figure."""
    name = [cells[0]]
    for cell in cells[1:]:
        if re.match(r"[\d.]", cell):
            break
        name.append(cell)
    return " · ".join(name)


def ratios(text):
    """``{(caption, row name, column): ratio}`` for every cell of a report holding one."""
    found = {}
    for caption, header, rows in tables(text):
        for cells in rows:
            for column, cell in zip(_columns(header)[1:], cells[1:], strict=False):
                match = RATIO.search(cell)
                if match:
                    found[(caption, _row_name(cells), column)] = float(match.group(1))
    return found


def checkout(revision, into):
    """``custom_layers`` at ``revision`` in ``into``, beside links to the rest
    of the working tree: run from ``into``, Python imports that package first
    (checked, as for the mutation copies)."""
    archive = subprocess.run(
        ["git", "archive", revision, "custom_layers"], cwd=ROOT, check=True, capture_output=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    for entry in ROOT.iterdir():
        if entry.name not in ("custom_layers", ".git"):
            (into / entry.name).symlink_to(entry)
    mutation.check_imports_the_copy(into)


def run(module, args, cwd, table):
    """One run of ``python -m module args --table table`` from ``cwd``; its ratios."""
    command = [sys.executable, "-m", module, *args, "--table", str(table)]
    done = subprocess.run(
        command, cwd=cwd, env=mutation.environment(cwd), capture_output=True, text=True
    )
    if done.returncode != 0:
        tail = (done.stdout + done.stderr)[-3000:]
        raise SystemExit(f"{' '.join(command)} (in {cwd}) failed:\n{tail}")
    return ratios(table.read_text())


def compare(before, after):
    """Report sections (caption, header, rows): per table, each row's
    ``before -> after`` medians, column by column."""
    sections = []
    for caption in dict.fromkeys(key[0] for key in after):
        keys = [key for key in after if key[0] == caption]
        rows = list(dict.fromkeys(key[1] for key in keys))
        columns = list(dict.fromkeys(key[2] for key in keys))
        body = []
        for row in rows:
            cells = []
            for column in columns:
                old = before.get((caption, row, column))
                new = after.get((caption, row, column))
                cells.append(
                    "–" if new is None else f"{'–' if old is None else f'{old:.2f}x'} → {new:.2f}x"
                )
            body.append([row, *cells])
        sections.append((caption, ["", *columns], body))
    return sections


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("revision", help="the git revision whose custom_layers is 'before'")
    parser.add_argument("--rounds", type=int, default=2, help="before/after pairs, order swapped")
    argv = sys.argv[1:] if argv is None else list(argv)
    split = argv.index("--") if "--" in argv else len(argv)
    args, command = parser.parse_args(argv[:split]), argv[split + 1 :]
    if not command:
        parser.error("name the benchmark after --, e.g. -- benchmarks.fit_cost")
    if args.rounds < 1:
        parser.error(f"--rounds must be at least 1. Received: rounds={args.rounds}")
    module, module_args = command[0], command[1:]
    with tempfile.TemporaryDirectory() as scratch:
        scratch = pathlib.Path(scratch)
        (scratch / "before").mkdir()
        checkout(args.revision, scratch / "before")
        sides = {"before": scratch / "before", "after": ROOT}
        measured = {side: [] for side in sides}
        for round_ in range(args.rounds):
            order = list(sides) if round_ % 2 == 0 else list(reversed(sides))
            for side in order:
                table = scratch / f"{side}-{round_}.md"
                measured[side].append(run(module, module_args, sides[side], table))
                print(f"round {round_ + 1}/{args.rounds}: {side} done", file=sys.stderr)
    medians = {
        side: {key: statistics.median(r[key] for r in runs if key in r) for key in runs[-1]}
        for side, runs in measured.items()
    }
    print(
        f"custom / built-in, before ({args.revision}) -> after (working tree): the median of "
        f"{args.rounds} alternating runs of `python -m {' '.join(command)}` per side\n"
    )
    sections = compare(medians["before"], medians["after"])
    print(report.render(report.command("benchmarks.before_after", argv), sections))
    return medians


if __name__ == "__main__":
    main()
