"""``python -m fgsm_helpers run --out DIR``: the series' batch run (see ``runner``)."""

import sys

from .runner import main

if __name__ == "__main__":
    sys.exit(main())
