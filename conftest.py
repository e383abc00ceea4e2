"""pytest at the repository root: notebooks run by nbval use their quick configuration.

Each notebook's parameters cell reads FGSM_QUICK; nbval's kernels inherit this environment.
Set FGSM_QUICK=0 to regression-test the full configuration (as long as the batch run).
"""

import os
from pathlib import Path

os.environ.setdefault("FGSM_QUICK", "1")
# nbval's kernels run in notebooks/: a relative FGSM_DATA_DIR (the README's ../shared/data) is
# meant from where pytest was started, so it is made absolute here.
if os.environ.get("FGSM_DATA_DIR"):
    os.environ["FGSM_DATA_DIR"] = str(Path(os.environ["FGSM_DATA_DIR"]).expanduser().resolve())
