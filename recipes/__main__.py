"""`python -m recipes`: run every recipe and print one summary table."""

import sys


def main(argv=None):
    print(
        "No recipes yet: the recipes (binary classification, regression, "
        "multi-class, multi-label, CNN) are still to be written. "
        "Run `python -m benchmarks.fidelity` and `python -m benchmarks.mlp` "
        "for what exists today.",
        file=sys.stderr,
    )
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
