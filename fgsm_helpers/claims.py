"""Conclusions checked like code: a chapter states a claim, then checks it on its own numbers.

A notebook's summary is rendered from the run's results; each conclusion it draws is followed
by :func:`check`, so a run in which the conclusion no longer holds stops (under papermill and
nbval alike) with a message naming the claim, instead of printing a false sentence.

>>> check(robust_acc <= clean_acc, "an attack never raises accuracy",
...       f"robust {robust_acc:.2f}% vs clean {clean_acc:.2f}%")
"""

from __future__ import annotations

from . import paper
from .stats import distinguishable


class ClaimFailed(AssertionError):
    """A conclusion the chapter draws does not hold for this run's numbers."""


def check(holds: bool, claim: str, evidence: str = "") -> None:
    """Raise :class:`ClaimFailed` naming ``claim`` (and the ``evidence`` numbers) unless
    ``holds``; return None quietly otherwise."""
    if not isinstance(claim, str) or not claim.strip():
        raise ValueError("claim must be a sentence saying what is claimed")
    if not bool(holds):
        detail = f" ({evidence})" if evidence else ""
        raise ClaimFailed(f"The chapter's claim no longer holds: {claim}{detail}")


# The claims chapters 01-04 check in their full configuration, evaluated on a run's results.json
# instead of the notebooks' variables: what must hold for every seed and every CPU, so that a
# regression on another machine fails on them and only on them (fgsm_helpers.regression).

#: The number of parameters of the paper's CNN (chapter 01).
PAPER_CNN_PARAMETERS = 4_738_826
#: Table 2's eps, the eps chapters 03 and 04 evaluate at.
_TABLE2_EPS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8)
_HIGH_EPS = (0.5, 0.6, 0.7, 0.8)


class RunResults:
    """A run's ``results.json`` seen as curves: ``curve(model, attack, units, n_images, ...)``
    returns ``{eps: accuracy}`` from the records a chapter up to ``chapter`` wrote (records a
    batch run did not stamp with a notebook count for every chapter)."""

    def __init__(self, results: dict, chapter: str = "99"):
        self.results = results
        self.records = [
            r for r in results.get("records", []) if str(r.get("notebook", "00"))[:2] <= chapter
        ]

    def curve(
        self, model: str, attack: str, units: str = "pixel", n_images: int = 10000, **fields
    ) -> dict[float, float]:
        wanted = {"model": model, "attack": attack, "eps_units": units, "n_images": n_images}
        wanted.update(fields)
        return {
            float(r["eps"]): float(r["accuracy"])
            for r in self.records
            if all(r.get(key) == value for key, value in wanted.items())
        }

    def fgsm(self, model: str, units: str = "pixel", n_images: int = 10000) -> dict[float, float]:
        """FGSM with the true labels (eps 0 is the clean accuracy on the same images)."""
        return self.curve(model, "fgsm", units, n_images, labels="true")


class MissingNumbers(KeyError):
    """A claim needs a number the run did not record."""


def _at(curve: dict[float, float], eps: float, what: str) -> float:
    if eps not in curve:
        raise MissingNumbers(f"{what} at eps {eps:g}")
    return curve[eps]


def _mean_gap(curve: dict[float, float], table: dict[float, float], what: str) -> float:
    return sum(abs(_at(curve, eps, what) - value) for eps, value in table.items()) / len(table)


def _chapter01(run: RunResults, ceilings: dict) -> list[tuple[str, bool, str]]:
    models = run.results.get("models", {})
    counts = {
        name: card.get("parameters")
        for name, card in models.items()
        if card.get("architecture") == "PaperCNN"
    }
    clean = run.curve("baseline", "none")
    clean_accuracy = _at(clean, 0.0, "the baseline's clean accuracy")
    return [
        (
            "the paper's CNN has 4,738,826 parameters",
            bool(counts) and all(count == PAPER_CNN_PARAMETERS for count in counts.values()),
            str(counts),
        ),
        (
            "one epoch of Adam comes within half a point of the paper's clean accuracy",
            abs(clean_accuracy - paper.TABLE1_CLEAN_ACCURACY) < 0.5,
            f"{clean_accuracy:.2f}%",
        ),
    ]


def _chapter02(run: RunResults, ceilings: dict) -> list[tuple[str, bool, str]]:
    curve = run.fgsm("baseline")
    what = "the baseline's FGSM accuracy (pixel units)"
    n = 10_000  # the full run's test set
    ours = {eps: _at(curve, eps, what) for eps in (0.2, 0.3)}
    verdicts = {
        eps: paper.compare_with_paper("", ours[eps], n, paper.TABLE1_FGSM_ACCURACY[eps])["verdict"]
        for eps in ours
    }
    largest = max(curve)
    worst = min(curve, key=curve.get)
    last, lowest = curve[largest], curve[worst]
    return [
        (
            "our CNN falls faster under FGSM than the paper's at eps 0.2 and 0.3 (pixel units)",
            all(verdict == "ours lower" for verdict in verdicts.values()),
            f"ours {ours[0.2]:.2f}% and {ours[0.3]:.2f}%",
        ),
        (
            "FGSM at the largest eps is weaker than at some smaller eps, beyond the intervals",
            last > lowest and distinguishable((last, n), (lowest, n)),
            f"eps {largest:g}: {last:.2f}%, eps {worst:g}: {lowest:.2f}%",
        ),
    ]


def _chapter03(run: RunResults, ceilings: dict) -> list[tuple[str, bool, str]]:
    base, ours = run.fgsm("baseline"), run.fgsm("fgsm_at")
    what = "FGSM accuracy (pixel units)"
    raised = {eps: _at(ours, eps, what) > _at(base, eps, what) for eps in _TABLE2_EPS}
    clean_cost = _at(base, 0.0, what) - _at(ours, 0.0, what)
    high = [_at(ours, eps, what) for eps in _HIGH_EPS]
    return [
        (
            "adversarial training raises FGSM accuracy at every eps",
            all(raised.values()),
            str({eps: (base[eps], ours[eps]) for eps in _TABLE2_EPS}),
        ),
        (
            "adversarial training costs less than a point of clean accuracy",
            clean_cost < 1.0,
            f"{base[0.0]:.2f}% -> {ours[0.0]:.2f}%",
        ),
        (
            "FGSM accuracy of the defended model exceeds the worst-case ceiling at eps >= 0.5",
            max(high) > ceilings[10000],
            f"max {max(high):.2f}%, ceiling {ceilings[10000]:.2f}%",
        ),
    ]


def _chapter04(run: RunResults, ceilings: dict) -> list[tuple[str, bool, str]]:
    protocols = {"pixel": "fgsm_at", "normalized": "fgsm_at_normalized"}
    subset = [r for r in run.records if r["attack"] == "pgd" and r.get("eps_units") == "pixel"]
    if not subset:
        raise MissingNumbers("chapter 04's PGD curves")
    n_pgd = subset[0]["n_images"]
    claims = []
    raised = {}
    for units, defended in protocols.items():
        base, ours = run.fgsm("baseline", units), run.fgsm(defended, units)
        raised[units] = all(
            _at(ours, eps, f"{defended} FGSM ({units})") > _at(base, eps, f"baseline ({units})")
            for eps in _TABLE2_EPS
        )
    claims.append(
        (
            "adversarial training raises FGSM accuracy at every eps",
            all(raised.values()),
            str(raised),
        )
    )
    rows = []
    for units, defended in protocols.items():
        for name in ("baseline", defended):
            fgsm_small = run.fgsm(name, units, n_pgd)
            pgd_small = run.curve(name, "pgd", units, n_pgd)
            for eps in _TABLE2_EPS:
                what = f"{name} on the first {n_pgd} images ({units})"
                rows.append(
                    (units, name, eps, _at(fgsm_small, eps, what), _at(pgd_small, eps, what))
                )
    claims.append(
        (
            "PGD is never weaker than FGSM",
            all(pgd <= fgsm for *_, fgsm, pgd in rows),
            str([row for row in rows if row[4] > row[3]]),
        )
    )
    flat = {r["model"]: r["accuracy"] for r in run.records if r["attack"] == "flat_gray"}
    if not flat:
        raise MissingNumbers("chapter 04's flat-gray accuracies")
    claims.append(
        (
            "no model beats the ceiling on flat-gray images",
            all(value <= ceilings[10000] + 1e-9 for value in flat.values()),
            str(flat),
        )
    )
    table = {(units, name, eps): (fgsm, pgd) for units, name, eps, fgsm, pgd in rows}
    fgsm_at_03 = table["pixel", "fgsm_at", 0.3]
    claims.append(
        (
            "PGD takes the pixel-units FGSM-trained model far below its FGSM accuracy at eps 0.3",
            fgsm_at_03[1] < fgsm_at_03[0] - 50,
            f"FGSM {fgsm_at_03[0]:.2f}%, PGD {fgsm_at_03[1]:.2f}%",
        )
    )
    normalized_at = table["normalized", "fgsm_at_normalized", 0.3][1]
    normalized_base = table["normalized", "baseline", 0.3][1]
    claims.append(
        (
            "at eps 0.3 in normalized units FGSM training holds against PGD better than the "
            "baseline",
            normalized_at > normalized_base,
            f"{normalized_at:.2f}% vs {normalized_base:.2f}%",
        )
    )
    fgsm_high = [table["pixel", "fgsm_at", eps][0] for eps in _HIGH_EPS]
    pgd_high = max(
        table["pixel", name, eps][1] for name in ("baseline", "fgsm_at") for eps in _HIGH_EPS
    )
    ceiling = ceilings[n_pgd]
    claims.append(
        (
            "FGSM accuracy of the FGSM-trained model exceeds the ceiling at eps >= 0.5, PGD's "
            "does not",
            min(fgsm_high) > ceiling and pgd_high <= ceiling,
            f"FGSM {fgsm_high}, PGD max {pgd_high:.2f}%, ceiling {ceiling:.2f}%",
        )
    )
    pixel_base = run.fgsm("baseline", "pixel")
    claims.append(
        (
            "pixel units: the baseline keeps under 10% at eps 0.3",
            _at(pixel_base, 0.3, "the baseline (pixel)") < 10,
            f"{pixel_base[0.3]:.2f}%",
        )
    )
    gaps = {
        units: _mean_gap(
            {eps: c for eps, c in run.fgsm("baseline", units).items() if eps > 0},
            paper.TABLE2_BASELINE,
            f"the baseline ({units})",
        )
        for units in protocols
    }
    claims.append(
        (
            "the CNN is closer to the paper's Table 2 in normalized units",
            gaps["normalized"] < gaps["pixel"],
            str({units: round(gap, 2) for units, gap in gaps.items()}),
        )
    )
    return claims


#: Each chapter's claims about a full run, as functions of its results.
CHAPTER_CLAIMS = {"01": _chapter01, "02": _chapter02, "03": _chapter03, "04": _chapter04}


def run_claims(
    results: dict, ceilings: dict[int, float], chapters=tuple(CHAPTER_CLAIMS)
) -> list[dict]:
    """Evaluate the claims chapters 01-04 check (in their full configuration) on a run's
    results (the dict of ``results.json``). ``ceilings`` maps a number of test images (10,000
    and chapter 04's PGD subset) to the share of its most common class, in percent.

    Returns ``[{"chapter", "claim", "holds", "evidence"}]``; a claim whose numbers the run did not
    record holds ``False`` with the missing number as evidence.

    >>> [c["claim"] for c in run_claims(results, {10000: 11.35, 500: 11.4}) if not c["holds"]]
    []
    """
    out = []
    for chapter in chapters:
        try:
            found = CHAPTER_CLAIMS[chapter](RunResults(results, chapter), ceilings)
        except MissingNumbers as err:
            found = [(f"chapter {chapter}'s claims", False, f"not recorded: {err.args[0]}")]
        out += [
            {"chapter": chapter, "claim": claim, "holds": bool(holds), "evidence": evidence}
            for claim, holds, evidence in found
        ]
    return out
