"""`python -m recipes`: every recipe, custom vs built-in, and one summary table.

The recipes are independent: by default they run in one process per core
(``--jobs``), each twin pair inside one process, so that custom and built-in
are timed alike; ``--jobs 1`` runs them one after another in this process.

Extra arguments (e.g. ``--epochs 5``, ``--data-dir DIR``, ``--impl custom``,
``--distribute multi-worker``) are passed to every recipe. Exits non-zero if a
recipe fails or if a custom model and its built-in twin differ by more than
0.5 point on their metric. In a multi-worker run only the chief prints the
headings and the summary; every worker reports its failures.
"""

import argparse
import concurrent.futures
import contextlib
import gc
import io
import multiprocessing
import pathlib
import sys
import time

from recipes import (
    backends,
    binary_classification,
    cnn_image_classification,
    distributed,
    multiclass_classification,
    multilabel_classification,
    process,
    regression,
    report,
)

# recipe name -> (module, result keys holding {impl: Row} pairs, metric, scale,
# largest custom/built-in gap accepted: 0.5 point, or 0.005 of R²)
RECIPES = {
    "binary_classification": (
        binary_classification,
        ("logistic", "network"),
        "accuracy",
        100,
        0.5,
    ),
    "regression": (regression, ("rows",), "r2", 1, 0.005),
    "multiclass_classification": (multiclass_classification, ("rows",), "accuracy", 100, 0.5),
    "multilabel_classification": (
        multilabel_classification,
        ("rows",),
        "exact_match",
        100,
        0.5,
    ),
    "cnn_image_classification": (cnn_image_classification, ("rows",), "accuracy", 100, 0.5),
}


# the order in which parallel jobs take them: longest first (measured, 2 cores)
LONGEST_FIRST = (
    "cnn_image_classification",
    "multilabel_classification",
    "binary_classification",
    "multiclass_classification",
    "regression",
)


def _reference_rows(result):
    """Rows that are not custom/built-in pairs: from scratch, scikit-learn, ..."""
    return [
        row
        for key in ("scratch", "sklearn", "reference", "softmax")
        if (row := result.get(key)) is not None
    ]


def print_summary(lines):
    print("\nSummary (test set; accuracy in %)")
    print(f"{'recipe':<28}{'model':<34}{'metric':<13}{'value':>8}{'time s':>9}")
    for recipe, model, metric, value, seconds in lines:
        shown = "" if value != value else f"{value:8.2f}" if metric != "r2" else f"{value:8.4f}"
        print(f"{recipe:<28}{model:<34}{metric:<13}{shown:>8}{seconds:9.3f}")


def table_text(lines, argv):
    """The summary as Markdown: each pair's metric and fit seconds, custom
    beside built-in, and their ratio; the reference rows after."""
    pairs, rows = {}, []
    for recipe, model, metric, value, seconds in lines:
        if model == "whole recipe":
            rows.append((f"`{recipe}`", "whole recipe", "", "", f"{seconds:.1f} s"))
            continue
        shown = f"{value:.4f}" if metric == "r2" else f"{value:.2f} %"
        label, _, impl = model.rpartition(" ")
        if impl in ("custom", "builtin"):
            pair = pairs.setdefault((recipe, label), {"metric": metric})
            pair[impl] = (shown, seconds)
            if len(pair) == 3:
                (c, cs), (b, bs) = pair["custom"], pair["builtin"]
                fit = f"{cs:.2f} / {bs:.2f} ({cs / bs:.2f}x)"
                rows.append((f"`{recipe}`", label, metric, f"{c} / {b}", fit))
        else:
            rows.append((f"`{recipe}`", model, metric, shown, f"{seconds:.3f} s"))
    header = ["recipe", "model", "metric", "custom / built-in", "fit s custom / built-in"]
    return report.render(report.command("recipes", argv), [("Test set", header, rows)])


def _options(argv):
    """``python -m recipes``' own flags; the rest go to every recipe."""
    p = argparse.ArgumentParser(
        prog="python -m recipes",
        description="Every recipe, custom vs built-in, and one summary table.",
        epilog="Every other flag goes to every recipe "
        "(python -m recipes.binary_classification --help lists them).",
    )
    p.add_argument(
        "--jobs",
        type=int,
        default=None,
        help="recipes at once, each in its own process (default: one per core, at most "
        "5; 1 under --distribute, which needs every recipe in this process)",
    )
    # read here too, and passed on: where the data sets are built before the jobs start
    p.add_argument("--dataset")
    p.add_argument("--data-dir")
    p.add_argument("--distribute", default="none")
    p.add_argument("--verbose", action="store_true")
    p.add_argument(
        "--table",
        metavar="PATH",
        help="also write the summary as a Markdown table there, headed by the date and the "
        "machine (the docs include docs/measured/recipes-<backend>.md)",
    )
    p.add_argument(
        "--readme",
        metavar="PATH",
        help="and the same table into PATH (the README) between its "
        "<!-- measured:recipes --> lines",
    )
    options, _ = p.parse_known_args(argv)
    if options.jobs is None:
        options.jobs = 1 if options.distribute != "none" else min(len(RECIPES), report.cores())
    if options.jobs < 1:
        p.error(f"--jobs must be positive, got {options.jobs}")
    if options.jobs > 1 and options.distribute != "none":
        p.error(
            f"--jobs {options.jobs} runs recipes in processes of their own, and "
            f"--distribute {options.distribute} needs every recipe in this one: "
            "leave --jobs out or use --jobs 1"
        )
    return options, _without_jobs(argv)


def _without_jobs(argv):
    """``argv`` less ``--jobs N``, ``--table PATH`` and ``--readme PATH`` (or
    with ``=``): the recipes do not take them."""
    kept, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg in ("--jobs", "--table", "--readme"):
            skip = True
        elif not arg.startswith(("--jobs=", "--table=", "--readme=")):
            kept.append(arg)
    return kept


def _recipe_argv(name, argv):
    """A recipe's flags: ``--plot PATH`` becomes one picture per recipe
    (PATH's name + the recipe's), so that no recipe overwrites another's."""
    argv = list(argv)
    for i, arg in enumerate(argv):
        if arg == "--plot" and i + 1 < len(argv):
            argv[i + 1] = str(_per_recipe(argv[i + 1], name))
        elif arg.startswith("--plot="):
            argv[i] = f"--plot={_per_recipe(arg.split('=', 1)[1], name)}"
    return argv


def _per_recipe(path, name):
    path = pathlib.Path(path)
    return path.with_name(f"{path.stem}-{name}{path.suffix}")


def run_recipe(name, argv):
    """Run one recipe; returns (summary lines, failures)."""
    module, keys, metric, scale, tolerance = RECIPES[name]
    lines, failures = [], []
    start = time.perf_counter()
    try:
        result = module.main(_recipe_argv(name, argv))
    except Exception as error:  # report every recipe, then fail
        error = distributed.lost_worker_error(error) or error
        failures.append(f"{name}: {type(error).__name__}: {error}")
    if failures:
        # A fit stopped mid-epoch leaves Keras' epoch iterator in a reference
        # cycle. Collected later, when the next recipes run in this process,
        # destroying its tf.data iterator can block for as long as TensorFlow's
        # autotuning thread sleeps (up to 37 s measured); now it takes 0.3 s.
        gc.collect()
        return lines, failures
    seconds = time.perf_counter() - start
    for key in keys:
        pair = result[key]
        values = {impl: row.metrics[metric] * scale for impl, row in pair.items()}
        gap = abs(values["custom"] - values["builtin"]) if len(values) == 2 else 0.0
        if gap > tolerance:
            failures.append(f"{name}: custom and built-in differ by {gap:.3f} on {metric}")
        for row in pair.values():
            lines.append((name, row.name, metric, row.metrics[metric] * scale, row.fit_seconds))
    for row in _reference_rows(result):
        if metric in row.metrics:
            lines.append((name, row.name, metric, row.metrics[metric] * scale, row.fit_seconds))
    lines.append((name, "whole recipe", "", float("nan"), seconds))
    return lines, failures


def _captured(name, argv):
    """``run_recipe`` with its console output kept, to be shown in order."""
    output = io.StringIO()
    with contextlib.redirect_stdout(output):
        lines, failures = run_recipe(name, argv)
    return output.getvalue(), lines, failures


def _start_job(threads):
    backends.share_the_cores(threads)


def _run_in_sequence(argv):
    lines, failures = [], []
    for name in RECIPES:
        if distributed.is_chief():
            print(f"\n=== {name} ===", flush=True)
        recipe_lines, recipe_failures = run_recipe(name, argv)
        lines += recipe_lines
        failures += recipe_failures
        if recipe_failures and distributed.in_cluster():
            break  # the workers are out of step now: no later collective would match
    return lines, failures


def _run_in_parallel(argv, options):
    """The recipes in ``options.jobs`` processes: this one and jobs − 1
    started for it, each on its share of the cores. This process takes the
    longest recipe first, while the others start (a new process spends a few
    seconds importing TensorFlow); then each free process takes the next
    recipe, longest first. Each recipe's output is shown in the usual order
    once it and those before it are done. If a started process dies, its
    recipe is reported as failed and this process runs the rest."""
    threads = max(1, report.cores() // options.jobs)
    backends.share_the_cores(threads)  # before building data runs TensorFlow ops
    _prepare_data(options)  # built once, here, before several processes read them
    context = multiprocessing.get_context("spawn")  # not fork: TensorFlow runs threads
    pending, done, running, shown = list(LONGEST_FIRST), {}, {}, []
    with (
        process.children_start_as_commands(options.verbose),
        concurrent.futures.ProcessPoolExecutor(
            options.jobs - 1, mp_context=context, initializer=_start_job, initargs=(threads,)
        ) as pool,
    ):
        try:
            _share_out(argv, options.jobs - 1, pool, pending, done, running, shown)
        except BaseException:  # a bad flag, Ctrl-C: stop the other processes, now
            for child in multiprocessing.active_children():
                child.terminate()
            raise
    lines, failures = [], []
    for name in RECIPES:
        lines += done[name][1]
        failures += done[name][2]
    return lines, failures


def _share_out(argv, others, pool, pending, done, running, shown):
    """Until every recipe is done: the next one for this process, and one
    for each of the ``others`` processes that is free."""
    while pending or running:
        for name, future in list(running.items()):
            if future.done():
                done[name] = _result(name, future)
                del running[name]
        mine = pending.pop(0) if pending else None
        while pending and len(running) < others:
            try:
                running[pending[0]] = pool.submit(_captured, pending[0], argv)
            except concurrent.futures.BrokenExecutor:
                break  # a started process died: the rest run here
            pending.pop(0)
        if mine:
            done[mine] = _captured(mine, argv)
        elif running:
            concurrent.futures.wait(running.values(), return_when="FIRST_COMPLETED")
        _show_in_order(done, shown)


def _result(name, future):
    try:
        return future.result()
    except concurrent.futures.BrokenExecutor as error:  # killed, out of memory, ...
        return "", [], [f"{name}: its process stopped: {type(error).__name__}: {error}"]


def _show_in_order(done, shown):
    """Print the finished recipes' output that is next in order."""
    for name in RECIPES:
        if name in shown:
            continue
        if name not in done:
            return
        print(f"\n=== {name} ===", flush=True)
        print(done[name][0], end="", flush=True)
        shown.append(name)


def _prepare_data(options):
    """Build (or download) every data set the recipes will read, once, in
    this process: processes reading the same one (the multi-class and CNN
    recipes share digits) would otherwise build it at once and collide. One
    that cannot be prepared is left to its recipes, which report why."""
    from recipes import data as data_lib

    names = {options.dataset} if options.dataset else {m.DATASET for m, *_ in RECIPES.values()}
    for name in sorted(names):
        try:
            data_lib.prepared_builder(name, options.data_dir, options.verbose)
        except Exception:  # reported by each recipe that reads it
            continue


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    given = list(argv)
    options, argv = _options(argv)
    if "--quiet" not in argv:
        argv.append("--quiet")
    if options.distribute == "multi-worker":
        try:
            distributed.multi_worker_strategy()  # first, and so that is_chief() knows
        except ValueError as error:  # not on this backend
            print(f"error: {error}", file=sys.stderr)
            return 2
    if options.jobs == 1:
        lines, failures = _run_in_sequence(argv)
    else:
        lines, failures = _run_in_parallel(argv, options)
    if distributed.is_chief():
        print_summary(lines)
        if options.table or options.readme:
            text = table_text(lines, given)
            if options.table:
                report.write_text(options.table, text)
            if options.readme:
                report.splice(options.readme, "recipes", text)
    for failure in failures:
        print(f"FAILED {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
