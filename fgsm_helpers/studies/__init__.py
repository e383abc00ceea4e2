"""The studies behind the chapters, on one skeleton (:mod:`.state`): each is a resumable JSON
file with its configuration and the machine it ran on, made by a ``fgsm-series`` subcommand
that follows one convention, and each committed study ships in ``studies/data/``.

* :mod:`.seeds`: chapter 04's Tables 1 and 2 over training seeds (``fgsm-series seeds``);
* :mod:`.collapse`: how often FGSM with a random start collapses (``fgsm-series collapse``);
* :mod:`.ablation`: chapter 06's defence with one ingredient changed (``fgsm-series ablation``);
* :mod:`.robustness`: AutoAttack over seeds and on 10,000 images (``fgsm-series robustness``);
* :mod:`.regression`: a full run against the committed reference run (``fgsm-series regress``).

>>> from fgsm_helpers.studies import load
>>> load("seeds")["seeds"][0]["seed"]
0
"""

from __future__ import annotations

from . import ablation, collapse, regression, robustness, seeds
from .state import DATA_DIR, load

__all__ = ["DATA_DIR", "ablation", "collapse", "load", "regression", "robustness", "seeds"]
