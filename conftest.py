"""pytest at the repository root: notebooks run by nbval use their quick configuration.

Each notebook's parameters cell reads FGSM_QUICK; nbval's kernels inherit this environment.
Set FGSM_QUICK=0 to regression-test the full configuration (as long as the batch run).

The tests read real MNIST and never download it: from FGSM_DATA_DIR when it is set, else from
the team's copy beside the clone (../shared/data) when that exists. nbval's kernels start in
notebooks/, so the folder is made absolute here.
"""

import os
from pathlib import Path

SHARED_DATA = Path(__file__).resolve().parent.parent / "shared" / "data"

os.environ.setdefault("FGSM_QUICK", "1")
if not os.environ.get("FGSM_DATA_DIR") and (SHARED_DATA / "MNIST" / "raw").is_dir():
    os.environ["FGSM_DATA_DIR"] = str(SHARED_DATA)
if os.environ.get("FGSM_DATA_DIR"):
    os.environ["FGSM_DATA_DIR"] = str(Path(os.environ["FGSM_DATA_DIR"]).expanduser().resolve())
