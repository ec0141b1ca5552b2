"""`python -m recipes`: every recipe, custom vs built-in, and one summary
table (``recipes.run_all``; ``python -m recipes --help`` for its flags)."""

import sys

from recipes import run_all

if __name__ == "__main__":
    sys.exit(run_all.main())
