"""The recipes' command line: the flags every recipe takes, what they set
up in the process, and how a command ends on bad input.

A recipe's ``main(argv)`` reads its flags with ``parse``; run as a script it
is started by ``run(main)``, which turns a data set that cannot be had into
two lines and exit status 2, as argparse does for a bad flag. In a Jupyter
kernel, ``parse(argv=None)`` ignores the kernel's own command line and reads
the flags from the ``RECIPES_ARGS`` environment variable (e.g.
``RECIPES_ARGS="--epochs 5"``), or takes the defaults.
"""

import argparse
import math
import os
import shlex
import sys

import keras

from recipes import backends, distributed, process
from recipes.pictures.display import in_kernel

IMPLS = ("custom", "builtin")

# Flags for a recipe run as a notebook, where the kernel's argv is not ours.
NOTEBOOK_ARGS = "RECIPES_ARGS"


def parser(doc, epochs, dataset, batch_size=32):
    """The flags every recipe takes; the description is the first line of ``doc``."""
    p = argparse.ArgumentParser(description=doc.strip().splitlines()[0].lstrip("# "))
    p.add_argument("--impl", choices=(*IMPLS, "both"), default="both")
    p.add_argument("--epochs", type=int, default=epochs)
    p.add_argument("--batch-size", type=int, default=batch_size)
    p.add_argument(
        "--seed",
        type=int,
        default=0,
        help="seeds initial weights, shuffling and kernels: two runs are identical",
    )
    p.add_argument(
        "--deterministic",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="TensorFlow op determinism: the model's on TensorFlow, the tf.data input's on "
        "any backend (default on; --no-deterministic allows jit_compile and "
        "nondeterministic kernels on TensorFlow)",
    )
    p.add_argument(
        "--validate-every",
        type=int,
        default=None,
        metavar="N",
        help="report the training loss and the test-set loss every N epochs; N divides "
        "--epochs (default: the largest divisor of --epochs up to --epochs/10)",
    )
    p.add_argument("--dataset", default=dataset, help="local builder or TFDS catalog name")
    p.add_argument("--data-dir", default=None, help="TFDS data directory")
    p.add_argument("--quiet", action="store_true", help="no progress output")
    p.add_argument(
        "--verbose",
        action="store_true",
        help="show TensorFlow's, absl's and TFDS' own log lines (hidden by default)",
    )
    p.add_argument(
        "--plot",
        metavar="PATH",
        help="write the learning curves there as a PNG, and the recipe's other pictures "
        "beside it (PATH's name + the picture's)",
    )
    p.add_argument("--save", metavar="PATH", help="save the trained model(s) as .keras")
    p.add_argument("--tensorboard", metavar="DIR", help="write TensorBoard logs")
    p.add_argument(
        "--checkpoint-dir",
        metavar="DIR",
        help="back up after each chunk of --validate-every epochs there; a rerun after a "
        "crash or kill resumes from the last finished chunk (keras.callbacks.BackupAndRestore)",
    )
    p.add_argument(
        "--distribute",
        choices=("none", "mirrored", "multi-worker"),
        default="none",
        help="train under tf.distribute: 'mirrored' (all local devices) or "
        "'multi-worker' (MultiWorkerMirroredStrategy, cluster from TF_CONFIG)",
    )
    p.add_argument(
        "--adam-epsilon",
        choices=("keras", "notes"),
        default="keras",
        help="custom Adam's epsilon placement: 'keras' (the default here, so that "
        "custom and built-in differ only in implementation) or the notes' θ −= η·m̂/(√v̂ + ε)",
    )
    return p


def parse(p, argv=None):
    """Read the flags (``argv``; ``None``: the command line, or in a notebook
    ``RECIPES_ARGS``) and set up the process for them: the seed, op
    determinism, the strategy, the log levels. A bad flag exits with status 2."""
    if argv is None and in_kernel():
        argv = shlex.split(os.environ.get(NOTEBOOK_ARGS, ""))
    args = p.parse_args(argv)
    refusal = backends.distribute_refusal(args.distribute)
    if refusal:
        p.error(refusal)
    backends.keep_tensorflow_off_the_gpus()
    if args.distribute == "multi-worker":
        distributed.multi_worker_strategy()  # before any TensorFlow op of this process
    for flag in ("epochs", "batch_size", "validate_every"):
        value = getattr(args, flag)
        if value is not None and value <= 0:
            p.error(f"--{flag.replace('_', '-')} must be positive, got {value}")
    if args.save and not args.save.endswith(".keras"):
        p.error(f"--save must end in .keras, got {args.save!r}")
    if args.validate_every is None:
        limit = math.ceil(args.epochs / 10)
        args.validate_every = max(d for d in range(1, limit + 1) if args.epochs % d == 0)
    elif args.epochs % args.validate_every:
        p.error(f"--validate-every {args.validate_every} must divide --epochs {args.epochs}")
    process.quiet_logs(not args.verbose)
    if args.quiet:
        import tensorflow_datasets as tfds

        tfds.disable_progress_bar()
    # --seed N: the same initial weights, shuffling and kernels on every run.
    keras.utils.set_random_seed(args.seed)
    if args.deterministic:
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()
    if args.distribute == "multi-worker":
        distributed.chief_prepares_data(args)
    return args


def run(main):
    """Run a recipe's ``main`` as a command and return its results: a data set that cannot be had
    ends it with its one-line reason and status 2; a multi-worker fit that
    lost a worker, with what that means for the run. Every other error
    shows in full."""
    from recipes import data

    try:
        return main()
    except data.DataSetError as error:
        spec = getattr(sys.modules["__main__"], "__spec__", None)
        prog = f"python -m {spec.name}" if spec else os.path.basename(sys.argv[0])
        print(f"{prog}: error: {error}", file=sys.stderr)
        sys.exit(2)
    except Exception as error:
        explained = distributed.lost_worker_error(error)
        if explained is None:
            raise
        raise explained from error
