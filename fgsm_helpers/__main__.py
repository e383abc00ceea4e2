"""``python -m fgsm_helpers``: the command line of :mod:`fgsm_helpers.cli` (the ``fgsm-series``
console script runs the same ``main``)."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
