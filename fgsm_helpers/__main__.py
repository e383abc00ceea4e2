"""``python -m fgsm_helpers`` (the ``fgsm-series`` console script runs the same ``main``):
``run`` (the batch run), ``badges`` (badges and setup cells), ``seeds``; see ``runner``."""

import sys

from .runner import main

if __name__ == "__main__":
    sys.exit(main())
