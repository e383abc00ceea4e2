"""The sentences chapters 03 and 04 render from their numbers: every branch read once, on
made-up curves whose verdicts are known (accuracies are whole numbers of images, as the
evaluation returns them)."""

from __future__ import annotations

import re

import pytest

from fgsm_helpers import findings, paper
from fgsm_helpers.studies import seeds

EPS = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]


def _curve(clean, *values):
    return {0.0: clean, **dict(zip(EPS, values, strict=True))}


# The run of chapter 03 in the committed notebook: 10,000 test images, pixel units.
BASE = _curve(98.95, 88.01, 38.79, 6.79, 2.92, 3.41, 5.98, 9.70, 15.12)
OURS = _curve(98.48, 95.72, 92.31, 87.87, 75.55, 59.46, 48.31, 43.34, 41.60)


def _no_template_leftovers(text: str) -> None:
    assert "(s)" not in text and "{" not in text and "None" not in text
    assert not re.search(r"\b(\d+) of (these|the) \1\b", text), text


# ------------------------------------------------------------------------------ chapter 03


def test_chapter03_reading_of_the_committed_run():
    text = findings.adversarial_training(BASE, OURS, 10_000, EPS, ceiling=11.35)
    _no_template_leftovers(text)
    assert "98.95% (98.73-99.13) for the baseline and 98.48% (98.22-98.70)" in text
    assert "a cost of 0.47 points, beyond the 95% intervals" in text
    assert "at every eps from 0.1 to 0.8, all beyond the 95% intervals" in text
    assert "at eps 0.3, 6.79% (6.31-7.30) for the baseline against 87.87% (87.22-88.50)" in text
    assert "Two things should make you suspicious" in text
    assert (
        "*more* accurate under FGSM at eps 0.8 than at eps 0.4, 15.12% (14.43-15.84) against"
        in text
    )
    assert "keeps 41.60% (40.64-42.57) to 59.46% (58.49-60.42) at every eps from 0.5 to 0.8" in text
    assert text.endswith("to find out what these numbers mean.")


def test_chapter03_clean_difference_inside_the_intervals_is_not_distinguishable():
    ours = {**OURS, 0.0: 98.85}
    text = findings.adversarial_training(BASE, ours, 10_000, EPS)
    assert "after adversarial training: not distinguishable at 95%." in text
    assert "suspicious" not in text.split("One thing")[0] or "One thing" in text


def test_chapter03_raised_everywhere_but_not_beyond_the_intervals_everywhere():
    ours = {**OURS, 0.1: 88.80}  # 0.79 points above the baseline on 10,000 images: inside
    text = findings.adversarial_training(BASE, ours, 10_000, EPS)
    assert "at every eps from 0.1 to 0.8, 7 of them beyond the 95% intervals" in text


def test_chapter03_raised_at_some_eps_only():
    ours = {**OURS, 0.7: 9.0, 0.8: 15.0}
    text = findings.adversarial_training(BASE, ours, 10_000, EPS)
    _no_template_leftovers(text)
    assert "at 6 of the 8 eps only (eps 0.1, 0.2, 0.3, 0.4, 0.5 and 0.6), all beyond" in text


def test_chapter03_raised_nowhere():
    text = findings.adversarial_training(BASE, BASE, 10_000, EPS)
    assert "the defended model is at no eps more accurate than the baseline" in text
    assert "not distinguishable at 95%" in text


def test_chapter03_one_doubt_or_none():
    flat_base = _curve(98.95, 88.0, 38.0, 6.0, 3.0, 2.0, 1.0, 0.5, 0.2)  # falls all the way
    text = findings.adversarial_training(flat_base, OURS, 10_000, EPS, ceiling=11.35)
    assert "One thing should make you suspicious" in text and "bigger FGSM step" not in text
    low_ours = {**OURS, 0.5: 11.0, 0.6: 10.0, 0.7: 9.0, 0.8: 8.0}
    text = findings.adversarial_training(flat_base, low_ours, 10_000, EPS, ceiling=11.35)
    assert "suspicious" not in text and "ceiling" not in text
    text = findings.adversarial_training(BASE, OURS, 10_000, EPS)  # no ceiling: not pixel units
    assert "One thing should make you suspicious" in text and "flat gray" not in text


def test_chapter03_a_defended_curve_that_rises_or_stays_flat_is_suspicious():
    # the committed run of 2026-12-05 (AMD EPYC): FGSM barely moves the defended model
    base = _curve(99.04, 87.99, 38.25, 7.48, 3.40, 4.11, 6.57, 9.68, 13.14)
    ours = _curve(98.64, 96.17, 97.71, 97.61, 94.98, 85.58, 72.23, 61.35, 54.34)
    text = findings.adversarial_training(base, ours, 10_000, EPS, ceiling=11.35)
    _no_template_leftovers(text)
    assert "Four things should make you suspicious" in text
    assert (
        "*more* accurate under FGSM at eps 0.2 than at eps 0.1, 97.71% (97.40-97.99) against "
        "96.17% (95.78-96.53), beyond the 95% intervals" in text
    )
    assert "within 1.03 points of its clean accuracy" in text and "second of the two" in text
    assert text.count(";\n") == 3 and "shapes described below.\n" in text  # the last ends with "."
    # a rise inside the intervals, or above eps 0.3, is not a doubt
    small = {**ours, 0.2: 96.3, 0.3: 90.0}
    text = findings.adversarial_training(base, small, 10_000, EPS, ceiling=11.35)
    assert "eps 0.2 than at eps 0.1" not in text and "within" not in text
    assert "Two things should make you suspicious" in text


def test_chapter03_ceiling_only_where_the_interval_is_above_it():
    ours = {**OURS, 0.7: 11.4, 0.8: 11.0}  # 11.4% on 10,000 images: inside reach of 11.35%
    text = findings.adversarial_training(BASE, ours, 10_000, EPS, ceiling=11.35)
    assert "keeps 48.31% (47.33-49.29) to 59.46% (58.49-60.42) at eps 0.5 and 0.6" in text


def test_chapter03_refuses_a_ceiling_in_normalized_units():
    with pytest.raises(ValueError, match="pixel units only"):
        findings.adversarial_training(
            BASE, OURS, 10_000, EPS, ceiling=11.35, eps_units="normalized"
        )


def test_difference_rows_carry_intervals_and_a_verdict():
    rows = findings.difference_rows(BASE, OURS, 10_000, names=("baseline", "fgsm_at"))
    assert [row["eps"] for row in rows] == [0.0, *EPS]
    first = rows[0]
    assert list(first) == [
        "eps",
        "baseline %",
        "baseline 95%",
        "fgsm_at %",
        "fgsm_at 95%",
        "difference",
        "distinguishable",
    ]
    assert first["baseline 95%"] == "98.7-99.1" and first["distinguishable"] == "yes"
    assert first["difference"] == pytest.approx(-0.47)
    same = findings.difference_rows(BASE, {**OURS, 0.0: 98.9}, 10_000)
    assert same[0]["distinguishable"] == "no"


# ------------------------------------------------------------------------------ chapter 04


def _fgsm(pixel_base=BASE, pixel_at=OURS, normalized_base=None, normalized_at=None):
    normalized_base = normalized_base or _curve(
        98.95, 97.49, 94.74, 89.61, 80.86, 66.77, 47.57, 30.42, 17.44
    )
    normalized_at = normalized_at or _curve(
        99.12, 98.49, 97.60, 96.74, 95.34, 93.07, 89.74, 84.30, 76.21
    )
    return {
        ("pixel", "baseline"): pixel_base,
        ("pixel", "fgsm_at"): pixel_at,
        ("normalized", "baseline"): normalized_base,
        ("normalized", "fgsm_at_normalized"): normalized_at,
    }


# The committed run's PGD table (first 500 test images): FGSM and PGD-20.
SUBSET = {
    ("pixel", "baseline"): _curve(99.0, 87.8, 35.8, 7.4, 4.0, 4.8, 7.2, 11.2, 14.4),
    ("pixel", "fgsm_at"): _curve(98.6, 96.0, 91.2, 85.2, 71.0, 58.4, 49.4, 46.8, 45.4),
    ("normalized", "baseline"): _curve(99.0, 97.2, 94.6, 89.6, 80.0, 65.6, 43.8, 26.6, 14.6),
    ("normalized", "fgsm_at_normalized"): _curve(
        99.2, 98.8, 97.4, 96.4, 94.4, 91.6, 86.6, 81.4, 74.4
    ),
}
PGD = {
    ("pixel", "baseline"): _curve(99.0, 77.2, 0, 0, 0, 0, 0, 0, 0),
    ("pixel", "fgsm_at"): _curve(98.6, 79.6, 6.2, 0, 0, 0, 0, 0, 0),
    ("normalized", "baseline"): _curve(99.0, 97.0, 93.6, 82.4, 55.6, 15.8, 0.4, 0, 0),
    ("normalized", "fgsm_at_normalized"): _curve(
        99.2, 98.8, 97.4, 95.4, 90.2, 77.6, 37.6, 11.2, 0.8
    ),
}


def _verdicts(holds=5, n=5):
    return [{"claim": claim, "holds": holds, "n": n} for claim in seeds.VERDICTS]


def test_the_verdicts_cited_are_the_seed_studys():
    cited = [
        findings.VERDICT_PIXEL_UNDER_10,
        findings.VERDICT_CLOSER_NORMALIZED,
        findings.VERDICT_CLOSER_NORMALIZED_AT,
        *findings.VERDICT_RAISES.values(),
    ]
    assert set(cited) <= set(seeds.VERDICTS)
    assert findings.PROTOCOLS == seeds.PROTOCOLS


def test_protocol_gaps_are_the_mean_absolute_differences():
    gaps = findings.protocol_gaps(_fgsm())
    assert gaps["pixel"][0] == pytest.approx(paper.mean_abs_difference(BASE, paper.TABLE2_BASELINE))
    assert gaps["normalized"][0] < gaps["pixel"][0] and gaps["normalized"][1] < gaps["pixel"][1]


def test_paper_tables_say_how_wide_our_intervals_are():
    table1, table2 = findings.paper_tables_html(_fgsm(), 10_000)
    assert table1.startswith("<table><caption>Table 1: the baseline CNN, accuracy % (ours on")
    assert "10,000 test images, whose 95% intervals reach up to ±1.0 points" in table2
    assert "differences over 5 points shaded" in table1
    assert "<td>FGSM eps=0.3</td><td>67.90</td><td>6.79</td>" in table1
    assert table2.count("<tr>") == 1 + len(paper.TABLE2_EPS)
    # 6.79 - 67.9, shaded, with its own dark text colour (readable in a dark theme too)
    assert 'color:#111111;font-weight:bold" title="beyond ±5">-61.11' in table1


def test_protocol_fit_committed_run():
    text = findings.protocol_fit(_fgsm(), 10_000, seed=0)
    _no_template_leftovers(text)
    assert text.startswith("In this run (seed 0) the normalized reading of eps comes closer")
    assert "and to its adversarially trained column too" in text
    assert "even under the normalized one, all 8 values of its CNN column lie outside" in text
    assert "leaves our CNN 6.79% (6.31-7.30), against the paper's 67.9%" in text


def test_protocol_fit_when_the_readings_split_and_when_one_matches():
    exact = {0.0: 98.88, **paper.TABLE2_BASELINE}
    fgsm = _fgsm(pixel_base=exact, pixel_at=_curve(98.5, *[50.0] * 8))
    text = findings.protocol_fit(fgsm, 10_000, seed=3)
    assert "the pixel reading of eps comes closer to the paper's CNN column" in text
    assert "while the normalized reading comes closer to its adversarially trained column" in text
    assert "every value of the paper's CNN column lies inside the 95% intervals" in text
    _no_template_leftovers(text)


def test_conclusions_of_the_committed_run():
    text, facts = findings.conclusions(
        _fgsm(), 10_000, SUBSET, PGD, 500, 13.4, _verdicts(), pgd_label="PGD-20"
    )
    _no_template_leftovers(text)
    items = text.split("\n")
    assert [item[:3] for item in items] == ["1. ", "2. ", "3. ", "4. "]
    assert items[0].startswith("1. **The paper's eps is probably not in pixel units.**")
    assert "the seed study found it under 10% in all 5 seeds (95% interval" in items[0]
    assert ": not a match either, since the paper's 67.9% lies outside that interval" in items[0]
    assert "the normalized reading is the closer one for both columns in this run" in items[0]
    assert "adversarially trained column in all 5 seeds" in items[0]
    assert items[1].startswith("2. **Against FGSM, adversarial training does what the paper says")
    assert "in pixel units at all 8 eps, all beyond the 95% intervals" in items[1]
    assert items[2].startswith("3. **At eps 0.3 in pixel units, FGSM accuracy says little")
    assert "PGD-20 leaves the FGSM-trained model 0.0% (0.0-0.8), where FGSM" in items[2]
    assert "more than the baseline's 82.4% (78.8-85.5), beyond the 95% intervals" in items[2]
    assert "only an upper bound on robust accuracy" in items[2]
    assert (
        "keeps 45.4% (41.1-49.8) to 58.4% (54.0-62.6) under FGSM at every eps from 0.5" in items[3]
    )
    assert items[3].endswith("at most 0.0% (0.0-0.8) there, within the ceiling.")
    assert facts["pgd_exposes"] and facts["normalized_holds"] and facts["ceiling_exposes"]
    assert facts["closer_normalized"] and all(facts["raised"].values())
    assert facts["pixel_at"] == (85.2, 0.0) and facts["pgd_high"] == 0.0


def test_conclusions_when_nothing_is_distinguishable_on_a_few_digits():
    """The quick configuration's shape: 50 PGD images, where most differences are inside the
    intervals; and a run where the pixel baseline keeps more than 10% at eps 0.3."""
    pixel_base = {**BASE, 0.3: 12.0}
    subset = {**SUBSET, ("pixel", "fgsm_at"): _curve(98.0, 96, 90, 12, 10, 10, 10, 10, 10)}
    pgd = {
        **PGD,
        ("pixel", "fgsm_at"): _curve(98.0, 80, 10, 8, 0, 0, 0, 0, 30),
        ("normalized", "baseline"): _curve(98.0, 96, 92, 80, 50, 14, 0, 0, 0),
        ("normalized", "fgsm_at_normalized"): _curve(98.0, 98, 96, 84, 80, 60, 30, 10, 0),
    }
    text, facts = findings.conclusions(
        _fgsm(pixel_base=pixel_base), 10_000, subset, pgd, 50, 18.0, _verdicts(3), pgd_label="PGD-5"
    )
    _no_template_leftovers(text)
    items = text.split("\n")
    assert items[0].startswith("1. **Which units the paper's eps is in stays open in this run**")
    assert items[2].startswith("3. **At eps 0.3 in pixel units, PGD-5 and FGSM cannot be told")
    assert "not distinguishable on these 50 digits" in items[2]
    assert "not above their ceiling of 18.00% beyond the 95% intervals" in items[3]
    assert "above the ceiling of 18.00%: on these digits this PGD did not find" in items[3]
    assert not facts["pgd_exposes"] and not facts["ceiling_exposes"]


def test_conclusions_when_training_does_not_raise_fgsm_accuracy_everywhere():
    pixel_at = {**OURS, 0.8: 14.0}
    text, facts = findings.conclusions(
        _fgsm(pixel_at=pixel_at), 10_000, SUBSET, PGD, 500, 13.4, _verdicts(4), pgd_label="PGD"
    )
    assert "2. **Against FGSM, adversarial training does not raise accuracy at every eps.**" in text
    assert "in pixel units at 7 of the 8 eps, all beyond the 95% intervals" in text
    assert "4 of the 5 seeds (95% interval of the rate: 38-96%) in pixel units" in text
    assert facts["raised"] == {"pixel": False, "normalized": True}


# Chapter 04's committed run (seed 0, AMD EPYC): Table 2 with the paper's eps in each reading.
RUN_04 = {
    ("pixel", "baseline"): _curve(99.04, 87.99, 38.25, 7.48, 3.40, 3.68, 5.77, 8.91, 13.14),
    ("pixel", "fgsm_at"): _curve(98.64, 96.17, 97.71, 97.61, 94.98, 85.58, 72.08, 60.73, 54.34),
    ("normalized", "baseline"): _curve(
        99.04, 97.43, 94.69, 89.85, 80.91, 67.19, 47.86, 29.67, 17.27
    ),
    ("normalized", "fgsm_at_normalized"): _curve(
        99.09, 98.42, 97.62, 96.67, 95.29, 93.75, 91.32, 87.44, 80.28
    ),
}


def test_units_conclusion_names_the_column_each_reading_is_closer_for():
    """The committed run: normalized units closer for the CNN column (16.1 against 29.8 points),
    pixel units for the adversarially trained one (4.0 against 8.6): the sentence says both."""
    text, facts = findings.conclusions(
        RUN_04, 10_000, SUBSET, PGD, 500, 13.4, _verdicts(), pgd_label="PGD-20"
    )
    first = text.split("\n")[0]
    _no_template_leftovers(first)
    assert facts["closer_normalized"]
    assert (
        "the normalized reading is the closer one for the paper's CNN column in this run (mean "
        "|ours − paper| 16.1 against 29.8 points) and in all 5 seeds" in first
    )
    assert (
        "for the adversarially trained column this run favours pixel units, 4.0 against 8.6 "
        "points, where the seed study found normalized units closer in all 5 seeds" in first
    )
    assert "both columns" not in first and "over Table 2 in this run" not in first
