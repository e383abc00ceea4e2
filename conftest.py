"""pytest at the repository root: notebooks run by nbval use their quick configuration.

Each notebook's parameters cell reads FGSM_QUICK; nbval's kernels inherit this environment.
Set FGSM_QUICK=0 to regression-test the full configuration (as long as the batch run).
"""
import os

os.environ.setdefault("FGSM_QUICK", "1")
