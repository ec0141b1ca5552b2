"""Mutation testing of custom_layers' argument and input handling: would a test
fail if an argument were ignored, a config entry dropped or a check removed?

Each mutant is one small change to one module of a copy of the project in a
temporary folder (the working tree is never touched): a ``get_config`` entry
dropped, an argument passed on or stored replaced by its default (or
``None``), a comparison negated or its boundary moved (``<`` ↔ ``<=``), a
``raise`` deleted, a numeric or boolean constant changed. The tests that
cover that module then run on the mutant (``pytest -x``, one process each);
a failure kills it. A mutant that survives is a change no test notices:
either a missing test or a change that computes the same (``EQUIVALENT``,
with the reason, shown in the table).

    python -m benchmarks.mutation [--module optimizers.py] [--match TEXT]
        [--limit N] [--jobs 2] [--timeout 300] [--tests FILE] [--table PATH] [--list]
    python -m benchmarks.mutation --resume run.log   # only what survived run.log

A run prints one line per mutant; ``--resume`` reads those lines back and
tests again only the mutants they do not show killed (after new tests: the
survivors). Backend-neutral: ``KERAS_BACKEND=jax`` runs the tests on JAX.
"""

import argparse
import collections
import concurrent.futures
import os
import pathlib
import queue
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import keras

from benchmarks import _mutants
from recipes import report

ROOT = pathlib.Path(__file__).resolve().parent.parent
PACKAGE = "custom_layers"
# what a test run needs of the project
COPIED = ("custom_layers", "recipes", "tests", "benchmarks", "pyproject.toml")

# module -> (the functions mutated, None for all; the tests run on its
# mutants, fastest and most pointed first, so that -x stops early)
TARGETS = {
    "_validation.py": (
        None,
        (
            "tests/test_argument_edges.py",
            "tests/test_dense.py::test_bad_constructor_arguments_raise_value_error",
            "tests/test_optimizers.py::test_bad_constructor_arguments_raise_value_error",
            "tests/test_losses.py::test_loss_classes_reject_bad_arguments",
            "tests/test_conv2d.py::test_bad_constructor_arguments_raise_value_error",
            "tests/test_optimizer_arguments.py::test_bad_base_arguments_raise_value_error",
            "tests/test_loss_arguments.py",
            "tests/test_config_round_trips.py",
        ),
    ),
    "layers/_weights.py": (
        None,
        (
            "tests/test_weight_arguments.py",
            "tests/test_kernel_bias_layer.py",
            "tests/test_dense_arguments.py",
            "tests/test_dense.py",
            "tests/test_serialization.py",
        ),
    ),
    "layers/dense.py": (
        None,
        (
            "tests/test_argument_edges.py",
            "tests/test_dense.py",
            "tests/test_dense_arguments.py",
            "tests/test_weight_arguments.py",
            "tests/test_serialization.py",
        ),
    ),
    "layers/conv2d.py": (
        {
            "_pair",
            "_groups",
            "_data_format",
            "_reject_lora",
            "Conv2D.__init__",
            "Conv2D.build",
            "Conv2D._check_spatial",
            "Conv2D.get_config",
            "Conv2D.from_config",
        },
        (
            "tests/test_argument_edges.py",
            "tests/test_conv2d.py::test_bad_constructor_arguments_raise_value_error",
            "tests/test_conv2d.py::test_bad_inputs_raise_value_error",
            "tests/test_conv2d.py::test_config_round_trip_keeps_every_argument",
            "tests/test_weight_arguments.py",
            "tests/test_conv2d_general.py",
        ),
    ),
    "losses.py": (
        {
            "_FormulaLoss.__init__",
            "_FormulaLoss._options",
            "_FormulaLoss.get_config",
            "_axis",
            "_cross_entropy_options",
            "BinaryCrossentropy.__init__",
            "CategoricalCrossentropy.__init__",
            "SparseCategoricalCrossentropy.__init__",
            "MeanSquaredError.__init__",
        },
        (
            "tests/test_config_round_trips.py",
            "tests/test_argument_edges.py",
            "tests/test_loss_arguments.py",
            "tests/test_losses.py",
            "tests/test_serialization.py",
        ),
    ),
    "_loss_inputs.py": (
        None,
        (
            "tests/test_losses.py",
            "tests/test_bad_inputs.py",
            "tests/test_loss_arguments.py",
        ),
    ),
    "optimizers.py": (
        {
            "_learning_rate",
            "_momentum",
            "_base_arguments",
            "GradientDescent.__init__",
            "GradientDescent.build",
            "GradientDescent.get_config",
            "RMSprop.__init__",
            "RMSprop.build",
            "RMSprop.get_config",
            "Adam.__init__",
            "Adam.build",
            "Adam.get_config",
            "Adam.from_config",
        },
        (
            "tests/test_config_round_trips.py",
            "tests/test_argument_edges.py",
            "tests/test_optimizer_state.py",
            "tests/test_reload_trains_on.py",
            "tests/test_optimizers.py",
            "tests/test_optimizer_arguments.py",
        ),
    ),
}

# mutant id -> why the mutant computes what the original computes
EQUIVALENT = {
    "layers/_weights.py::KernelBiasLayer.__init__::default use_bias: True -> False": (
        "the private base's default: Dense and Conv2D always pass use_bias on"
    ),
    "layers/conv2d.py::Conv2D._check_spatial::zip(strict=...): True -> False": (
        "the four sequences zipped always hold two entries (height, width)"
    ),
    "_loss_inputs.py::_compatible::zip(strict=...): True -> False": (
        "the shapes are zipped only once their ranks compared equal"
    ),
}


def mutants(modules=None, root=ROOT):
    """Every mutant of the modules named (all of ``TARGETS`` by default)."""
    found = []
    for module in modules or TARGETS:
        scope = TARGETS[module][0]
        source = (root / PACKAGE / module).read_bytes()
        found += _mutants.find(module, source, scope)
    return found


def copy_project(destination):
    """The files a test run needs, without caches (a stale ``.pyc`` of the
    same size and second would hide a mutant)."""
    destination = pathlib.Path(destination)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache", ".hypothesis")
    for name in COPIED:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, destination / name, ignore=ignore)
        else:
            shutil.copy2(source, destination / name)
    return destination


def environment(copy):
    """The environment of a process run in ``copy``: this process' backend,
    and the copy first on the import path."""
    return {
        **os.environ,
        "KERAS_BACKEND": keras.backend.backend(),
        "PYTHONPATH": str(copy),
        "PYTHONDONTWRITEBYTECODE": "1",
    }


def check_imports_the_copy(copy):
    """``import custom_layers`` run in ``copy`` (with ``environment(copy)``)
    must find the copy's package, not the editable install's."""
    result = subprocess.run(
        [sys.executable, "-c", f"import {PACKAGE}; print({PACKAGE}.__file__)"],
        cwd=copy,
        env=environment(copy),
        capture_output=True,
        text=True,
        check=True,
    )
    where = pathlib.Path(result.stdout.strip().splitlines()[-1]).resolve()
    if not where.is_relative_to(pathlib.Path(copy).resolve()):
        raise RuntimeError(f"{PACKAGE} resolves to {where}, not to the copy {copy}")


def run_tests(copy, selection, timeout):
    """Run ``selection`` in ``copy``; "passed", "failed" or "timeout"."""
    command = [sys.executable, "-m", "pytest", *selection]
    command += ["-x", "-q", "-n", "0", "-p", "no:cacheprovider", "-m", "not slow"]
    process = subprocess.Popen(
        command,
        cwd=copy,
        env=environment(copy),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its own group, so a timeout ends all of it
    )
    try:
        code = process.wait(timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        return "timeout"
    return "passed" if code == 0 else "failed"


def _selection(module, tests=None):
    """The tests run on a module's mutants: ``tests`` if given, else the
    module's in ``TARGETS`` that exist."""
    chosen = tests or TARGETS[module][1]
    return [test for test in chosen if (ROOT / test.split("::")[0]).is_file()]


def run(found, jobs=1, timeout=300, log=None, tests=None):
    """{mutant id: (mutant, "killed" | "survived" | "timeout", seconds)};
    ``log`` (default: print, flushed) hears of each mutant as it ends."""
    log = log or (lambda line: print(line, flush=True))
    with tempfile.TemporaryDirectory(prefix="mutation-") as folder:
        copies = queue.Queue()
        for job in range(jobs):
            copy = copy_project(pathlib.Path(folder) / f"copy{job}")
            copies.put(copy)
        check_imports_the_copy(copy)

        def baseline(module):
            copy = copies.get()
            try:
                return module, run_tests(copy, _selection(module, tests), timeout)
            finally:
                copies.put(copy)

        with concurrent.futures.ThreadPoolExecutor(jobs) as pool:
            for module, outcome in pool.map(baseline, sorted({m.module for m in found})):
                if outcome != "passed":
                    raise RuntimeError(f"the tests of {module} fail without a mutant")

        def one(mutant):
            copy = copies.get()
            path = copy / PACKAGE / mutant.module
            original = path.read_bytes()
            try:
                mutated = mutant.apply(original)
                compile(mutated, str(path), "exec")
                path.write_bytes(mutated)
                start = time.perf_counter()
                outcome = run_tests(copy, _selection(mutant.module, tests), timeout)
                seconds = time.perf_counter() - start
            finally:
                path.write_bytes(original)
                copies.put(copy)
            status = {"failed": "killed", "passed": "survived"}.get(outcome, outcome)
            return mutant, status, seconds

        results = {}
        with concurrent.futures.ThreadPoolExecutor(jobs) as pool:
            for index, (mutant, status, seconds) in enumerate(pool.map(one, found), 1):
                results[mutant.id] = (mutant, status, seconds)
                log(f"[{index}/{len(found)}] {status:8} {seconds:5.1f}s {mutant.id}")
    return results


_LOGGED = re.compile(r"^\[\d+/\d+\] (\w+) +([\d.]+)s (.+)$")


def read_log(text):
    """{mutant id: (status, seconds)} from the lines ``run`` printed."""
    found = {}
    for line in text.splitlines():
        match = _LOGGED.match(line.strip())
        if match:
            found[match[3]] = (match[1], float(match[2]))
    return found


def summary(results):
    """Per module: mutants, killed, timeout, survived, equivalent, score."""
    rows = collections.defaultdict(collections.Counter)
    for mutant, status, _ in results.values():
        equivalent = status == "survived" and mutant.id in EQUIVALENT
        for module in (mutant.module, "all"):
            rows[module]["mutants"] += 1
            rows[module]["equivalent" if equivalent else status] += 1
    for counts in rows.values():
        detected = counts["killed"] + counts["timeout"]
        counts["score"] = detected / max(counts["mutants"] - counts["equivalent"], 1)
    return dict(rows)


def write_table(path, results, jobs, seconds, resumed=0):
    counts = summary(results)
    modules = [*sorted(m for m in counts if m != "all"), "all"]
    rows = [
        (
            f"`{module}`" if module != "all" else "**all**",
            *(counts[module][k] for k in ("mutants", "killed", "timeout", "survived")),
            counts[module]["equivalent"],
            f"{counts[module]['score']:.1%}",
        )
        for module in modules
    ]
    caption = (
        "Mutants of custom_layers' argument handling; score = (killed + timeout) / "
        f"(mutants − equivalent); {jobs} job(s), {seconds / 60:.1f} min"
    )
    if resumed:
        caption += f" for the {len(results) - resumed} not killed before ({resumed} killed earlier)"
    survivors = [
        (
            f"`{PACKAGE}/{m.module}:{m.line}`",
            f"`{m.qualname}`: {m.detail}".replace("|", "\\|"),
            EQUIVALENT.get(m.id, "**not killed by any test**").replace("|", "\\|"),
        )
        for m, status, _ in sorted(results.values(), key=lambda r: (r[0].module, r[0].line))
        if status == "survived"
    ]
    sections = [
        (
            caption,
            ["module", "mutants", "killed", "timeout", "survived", "equivalent", "score"],
            rows,
        )
    ]
    if survivors:
        sections.append(("Survivors", ["where", "mutation", "why it survives"], survivors))
    return report.write(path, "python -m benchmarks.mutation", sections)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--module",
        action="append",
        choices=sorted(TARGETS),
        help="mutate only this module (repeatable)",
    )
    parser.add_argument("--match", help="only the mutants whose id contains this text")
    parser.add_argument("--limit", type=int, help="at most this many mutants")
    parser.add_argument("--jobs", type=int, default=1, help="mutants tested at once")
    parser.add_argument("--timeout", type=float, default=300, help="seconds per mutant")
    parser.add_argument(
        "--tests",
        action="append",
        help="run these tests on every mutant instead of its module's (repeatable)",
    )
    parser.add_argument("--list", action="store_true", help="list the mutants, run nothing")
    parser.add_argument(
        "--resume",
        metavar="LOG",
        help="what an earlier run printed: its killed and timed-out mutants count as "
        "such again, only the others run (after new tests, the survivors)",
    )
    report.add_table_flag(parser, "mutation")
    args = parser.parse_args(argv)
    found = [m for m in mutants(args.module) if args.match is None or args.match in m.id]
    found = found[: args.limit]
    if args.list:
        for mutant in found:
            print(f"{PACKAGE}/{mutant.module}:{mutant.line} {mutant.operator:8} {mutant.id}")
        return {"mutants": found}
    earlier = read_log(pathlib.Path(args.resume).read_text()) if args.resume else {}
    detected = {
        m.id: (m, *earlier[m.id])
        for m in found
        if earlier.get(m.id, ("",))[0] in ("killed", "timeout")
    }
    start = time.perf_counter()
    results = {
        **detected,
        **run(
            [m for m in found if m.id not in detected], args.jobs, args.timeout, tests=args.tests
        ),
    }
    seconds = time.perf_counter() - start
    path = write_table(args.table, results, args.jobs, seconds, resumed=len(detected))
    counts = summary(results).get("all", collections.Counter())
    print(
        f"{counts['mutants']} mutants: {counts['killed']} killed, {counts['timeout']} timeout, "
        f"{counts['survived']} survived, {counts['equivalent']} equivalent; "
        f"score {counts['score']:.1%} in {seconds / 60:.1f} min"
    )
    print(f"wrote {path}")
    return {"results": results, "summary": counts, "path": path}


if __name__ == "__main__":
    main()
