"""Chapter 06's evaluation checks (``fh.robustness``)."""

import pytest
import torch
import torch.nn.functional as F

import fgsm_helpers as fh
from fgsm_helpers import robustness

EPS = 0.1


@pytest.fixture(scope="module")
def images(mnist_test):
    return mnist_test[0][:40], mnist_test[1][:40]


@pytest.mark.slow
def test_pgd_strength_reports_every_setting_and_more_restarts_never_help(trained_cnn, images):
    x, y = images
    result = robustness.pgd_strength(
        trained_cnn, x, y, EPS, steps=(5, 20), restarts=(1, 3), restart_steps=10, progress=False
    )
    assert set(result["steps"]) == {5, 20} and set(result["restarts"]) == {1, 3}
    clean = fh.accuracy(trained_cnn, x, y)
    for value in [*result["steps"].values(), *result["restarts"].values()]:
        assert 0.0 <= value <= clean
    # restarts keep each image's worst case over the same first start: never higher
    assert result["restarts"][3] <= result["restarts"][1]
    assert result["restarts"][1] == fh.evaluation.pgd_accuracy(
        trained_cnn, x, y, EPS, steps=10, seed=0
    )


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"steps": ()}, "at least one"),
        ({"restarts": (0,)}, "restarts"),
        ({"restart_steps": 0}, "restart_steps"),
    ],
)
def test_pgd_strength_refuses_bad_counts(random_cnn, tiny_batch, kwargs, match):
    with pytest.raises(ValueError, match=match):
        robustness.pgd_strength(random_cnn, *tiny_batch, EPS, progress=False, **kwargs)


@pytest.mark.slow
def test_square_attack_lowers_accuracy_and_is_seeded(trained_cnn, images):
    x, y = images
    clean = fh.accuracy(trained_cnn, x, y)
    first = robustness.square_accuracy(trained_cnn, x, y, 0.2, queries=50, progress=False)
    again = robustness.square_accuracy(trained_cnn, x, y, 0.2, queries=50, progress=False)
    assert first == again
    assert first < clean
    assert robustness.square_accuracy(trained_cnn, x, y, 0.0, progress=False) == clean


def test_square_attack_refuses_bad_input(random_cnn, tiny_batch):
    x, y = tiny_batch
    with pytest.raises(ValueError, match="eps"):
        robustness.square_accuracy(random_cnn, x, y, 1.5, progress=False)
    with pytest.raises(ValueError):
        robustness.square_accuracy(random_cnn, x[0], y, 0.1, progress=False)
    with pytest.raises(ValueError, match="queries"):
        robustness.square_accuracy(random_cnn, x, y, 0.1, queries=0, progress=False)


def test_masking_signs():
    sound = robustness.masking_signs(fgsm=95, pgd=93, square=94, transfer=97, strongest=92.5)
    assert not any(sound.values())
    masked = robustness.masking_signs(fgsm=80, pgd=90, square=60, transfer=70, strongest=50)
    assert all(masked.values())
    assert "strongest_beats_pgd" not in robustness.masking_signs(
        fgsm=1, pgd=1, square=1, transfer=1
    )


@pytest.mark.slow
def test_loss_surface_shape_centre_and_gradient_direction(trained_cnn, images):
    x, y = images
    a, b, loss = robustness.loss_surface(trained_cnn, x[:10], y[:10], EPS, points=5)
    assert a.tolist() == pytest.approx([-EPS, -EPS / 2, 0, EPS / 2, EPS])
    assert loss.shape == (5, 5) and torch.isfinite(loss).all()
    with torch.no_grad():
        clean_loss = F.cross_entropy(trained_cnn(x[:10]), y[:10]).item()
    summary = robustness.surface_summary(a, loss)
    assert summary["at the image"] == pytest.approx(clean_loss, rel=1e-4)
    # on an undefended CNN a step along the gradient's sign raises the loss more than one against it
    assert summary["at the FGSM point"] > loss[0, 2].item()
    assert summary["highest in the ball"] >= summary["at the FGSM point"]
    # the square's corners lie outside the eps ball: the summary leaves them out
    corner_only = loss.clone()
    corner_only[-1, -1] = 1e6
    assert robustness.surface_summary(a, corner_only)["highest in the ball"] < 1e6
    with pytest.raises(ValueError, match="points"):
        robustness.loss_surface(trained_cnn, x, y, EPS, points=1)


def test_leaderboard_rows_are_consistent():
    for row in robustness.LEADERBOARD:
        assert row["autoattack"] <= row["reported"] <= row["clean"]
    values = [row["autoattack"] for row in robustness.LEADERBOARD]
    assert values == sorted(values, reverse=True)


@pytest.mark.slow
def test_step_versus_search(trained_cnn, images):
    x, y = images
    result = robustness.step_versus_search(trained_cnn, x, y, EPS, steps=10)
    x_fgsm = fh.fgsm(trained_cnn, x, y, EPS)
    with torch.no_grad():
        one_step = F.cross_entropy(trained_cnn(x_fgsm), y).item()
    assert result["fgsm"] == pytest.approx(one_step, rel=1e-5)
    assert result["pgd"] >= result["fgsm"]  # the search starts where one step cannot reach
    assert result["ratio"] == pytest.approx(result["pgd"] / result["fgsm"])


# ------------------------------------------- chapter 06's tables and verdicts (made-up results)


def _autoattack_result(n_images=1000, **counts):
    """A made-up ``fh.autoattack`` result with ``counts`` images per label (the rest robust)."""
    counts = {"clean": 0, "apgd-ce": 0, "apgd-t": 0, "fab-t": 0, "square": 0, **counts}
    counts["robust"] = n_images - sum(counts.values())
    broken_by = [
        None if label == "robust" else label for label, k in counts.items() for _ in range(k)
    ]
    return fh.evaluation.AutoAttackResult(
        accuracy=100.0 * counts["robust"] / n_images,
        clean_accuracy=100.0 * (n_images - counts["clean"]) / n_images,
        n_images=n_images,
        eps=0.3,
        version="standard",
        steps=100,
        attacks=("apgd-ce", "apgd-t", "fab-t", "square"),
        broken_by=broken_by,
        counts=counts,
        seconds={"apgd-ce": 1.0, "apgd-t": 2.0, "fab-t": 0.5, "square": 0.5},
        x_adv=torch.zeros(1),
    )


def test_leaderboard_holds_all_ten_entries_of_the_readme():
    board = {row["defence"].split(" (")[0]: row for row in robustness.LEADERBOARD}
    assert len(robustness.LEADERBOARD) == 10
    assert board["Ding et al. 2020"]["autoattack"] == 91.40
    assert board["Atzmon et al. 2019"]["autoattack"] == 90.85
    assert board["Jang et al. 2019"]["autoattack"] == 87.99
    assert board["Taghanaki et al. 2019"]["autoattack"] == 0.00
    assert board["Taghanaki et al. 2019"]["model"] == "retrained"
    for row in robustness.LEADERBOARD:
        assert row["model"] in ("available", "retrained")
        # two decimals on 10,000 images is a whole number of images: an interval exists
        fh.stats.accuracy_interval(row["autoattack"], robustness.LEADERBOARD_IMAGES)


def test_with_interval():
    assert robustness.with_interval(90.0, 1000) == "90.0% (88.0-91.7)"
    assert robustness.with_interval(0.0, 50) == "0.0% (0.0-7.1)"


def test_leaderboard_rows_hold_the_whole_board_and_ours_sorted():
    ours = {"defence_here": _autoattack_result(clean=17, **{"apgd-ce": 83})}
    rows = robustness.leaderboard_rows(ours)
    assert len(rows) == 11
    values = [row["AutoAttack %"] for row in rows]
    assert values == sorted(values, reverse=True)
    (mine,) = [row for row in rows if row["model"] == "this run"]
    assert mine["defence"] == "defence_here (ours)" and mine["images"] == 1000
    assert mine["AutoAttack %"] == 90.0 and mine["clean %"] == pytest.approx(98.3)
    assert mine["95% interval"] == "87.98-91.71" and mine["attack code"] == "torchattacks"
    assert {row["attack code"] for row in rows if row is not mine} == {"reference"}


def test_leaderboard_place_ranks_only_where_the_intervals_separate():
    place = robustness.leaderboard_place(90.0, 1000)
    names = {group: [d.split(" (")[0] for d in found] for group, found in place.items()}
    assert names["higher"] == [
        "Gowal et al. 2020",
        "Zhang et al. 2020",
        "Gowal et al. 2019",
        "Zhang et al. 2019",
    ]
    assert names["not distinguishable"] == [
        "Ding et al. 2020",
        "Atzmon et al. 2019",
        "Madry et al. 2018",
        "Jang et al. 2019",
    ]
    assert names["lower"] == ["Wong et al. 2020", "Taghanaki et al. 2019"]
    # on 10,000 images of our own, 90.0 would be below Ding et al. and above Madry et al.
    wide = robustness.leaderboard_place(90.0, 10_000)
    assert "Ding et al. 2020 (MMA training)" in wide["higher"]
    assert "Madry et al. 2018 (PGD training)" in wide["lower"]
    text = robustness.describe_leaderboard_place("ours", 99.9, 1000)
    assert "below, intervals apart" not in text and "not distinguishable from" not in text
    assert text.count("\n- ") == 1 and "- above, intervals apart: Gowal et al. 2020" in text


def test_square_findings_follow_the_reference_check():
    warned = robustness.square_findings(
        _autoattack_result(clean=10, **{"apgd-ce": 50, "square": 3})
    )
    assert warned == {"before": 94.0, "broken": 3, "after": pytest.approx(93.7), "warns": True}
    # the reference warns only above 0.2% of the images: 2 of 1,000 is not enough
    assert not robustness.square_findings(_autoattack_result(square=2))["warns"]
    assert robustness.square_findings(_autoattack_result(n_images=50, square=1))["warns"]


def test_square_verdict_for_each_case():
    warned = robustness.square_verdict(
        {"a": _autoattack_result(square=63), "b": _autoattack_result(square=1)},
        steps=100,
        queries=5000,
    )
    assert "broke images that APGD-CE, APGD-T and FAB-T had left standing: `a` 63 of 1000" in warned
    assert "check_square_sr" in warned and "gradient masking" in warned
    assert "It would warn for this model." in warned and "its AutoAttack figure may be" in warned
    assert "the reference runs" not in warned  # the full budget
    assert "Square also broke 1 of `b`'s 1000 images, within the 0.2%" in warned
    both = robustness.square_verdict(
        {"a": _autoattack_result(square=63), "b": _autoattack_result(n_images=50, square=2)},
        steps=10,
        queries=100,
    )
    assert "each of these models" in both and "their AutoAttack figures" in both
    assert "10 iterations, the reference runs 100" in both and "the reference runs 5,000" in both
    assert "Square also broke" not in both
    tolerated = robustness.square_verdict(
        {"b": _autoattack_result(square=2)}, steps=100, queries=5000
    )
    assert "no model crosses the threshold" in tolerated and "2 of `b`'s 1000 images" in tolerated
    clean = robustness.square_verdict(
        {"c": _autoattack_result(**{"apgd-ce": 5})}, steps=100, queries=5000
    )
    assert "Square broke no image" in clean and "warn" not in clean.replace("warning", "")
    rows = robustness.square_rows({"a": _autoattack_result(square=63)})
    assert rows == [
        {
            "model": "a",
            "after the gradient attacks %": 100.0,
            "broken by Square": 63,
            "after Square %": pytest.approx(93.7),
            "reference warns": "yes",
        }
    ]


def test_autoattack_rows_and_accuracy_on_first():
    result = _autoattack_result(n_images=10, clean=1, **{"apgd-ce": 2})
    (row,) = robustness.autoattack_rows({"m": result})
    assert row["AutoAttack %"] == 70.0 and row["clean %"] == 90.0 and row["robust"] == 7
    assert row["seconds"] == 4.0
    # broken_by lists clean, then apgd-ce, then the robust images
    assert robustness.accuracy_on_first(result, 3) == 0.0
    assert robustness.accuracy_on_first(result, 10) == 70.0
    with pytest.raises(ValueError, match="more than"):
        robustness.accuracy_on_first(result, 11)


def test_autoattack_verdicts_group_with_intervals():
    results = {
        "holds": _autoattack_result(**{"apgd-ce": 300}),  # 70%
        "falls": _autoattack_result(**{"apgd-ce": 1000}),  # 0%
        "unsure": _autoattack_result(n_images=20, **{"apgd-ce": 10}),  # 50% on 20 images
    }
    text = robustness.autoattack_verdicts(
        results, {"holds": 100.0, "falls": 40.0, "unsure": 50.0}, n_same=20, eps=0.3
    )
    assert "**Hold** at eps 0.3" in text and "`holds` 70.0%" in text
    assert "**Fall**" in text and "`falls` 0.0%" in text
    assert "**Undecided** on these images (the interval spans 50%): `unsure`" in text
    # on the first 20 images: holds keeps all 20 under AutoAttack? no, apgd-ce broke the first
    flattered = text.split("**FGSM flatters**")[1]
    assert "`holds` (FGSM 100.0%" in flattered and "`falls` (FGSM 40.0%" in flattered
    assert "`unsure`" not in flattered
    none = robustness.autoattack_verdicts(
        {"falls": results["falls"]}, {"falls": 0.0}, n_same=20, eps=0.3
    )
    assert "**Hold** at eps 0.3 under AutoAttack (more than half" in none
    assert "whole 95% interval above 50%): none." in none and "apart): none." in none
    assert "Undecided" not in none


def test_describe_best_compares_image_by_image_on_the_same_images():
    results = {
        "a": _autoattack_result(**{"apgd-ce": 100}),
        "b": _autoattack_result(**{"apgd-ce": 134}),  # breaks a's 100 and 34 more: nested
        "c": _autoattack_result(**{"apgd-ce": 500}),
    }
    text = robustness.describe_best(results)
    assert text.startswith("The highest figure of the series is `a`'s: 90.0% (88.0-91.7)")
    # overlapping intervals (86.6 vs 90.0 on 1,000), but 34 discordant images all one way
    assert "below it, a difference at the 5% level: `b` 86.6%" in text
    assert "(34 images kept by `a` only, 0 by `b` only: exact McNemar test p = 1.2e-10)" in text
    assert "not distinguishable" not in text
    # d breaks 30 images a keeps and keeps 20 that a lost: 89.0%, discordant 30 against 20
    swapped = _autoattack_result(**{"apgd-ce": 110})
    swapped.broken_by[:] = [None] * 20 + ["apgd-ce"] * 110 + [None] * 870
    close = robustness.describe_best({"a": results["a"], "d": swapped})
    assert "not distinguishable from it: `d` 89.0%" in close
    assert "(20 images kept by `a` only" not in close and "30 images kept by `a` only" in close
    other_images = robustness.describe_best({"a": results["a"], "e": _autoattack_result(200)})
    assert "`e`'s: 100.0%" in other_images  # e is the best here; a by intervals (n differs)
    assert "`a` 90.0% (88.0-91.7) (intervals apart)" in other_images


def test_strength_verdicts_for_each_case():
    strength = {
        "broken": {"steps": {10: 0.0, 20: 0.0}, "restarts": {1: 0.0, 2: 0.0}},
        "late": {"steps": {10: 2.0, 20: 0.0}, "restarts": {1: 0.0, 2: 0.0}},
        "settled": {"steps": {10: 95.5, 20: 95.0}, "restarts": {1: 95.0, 2: 95.0}},
        "restarts_bite": {"steps": {10: 95.5, 20: 95.0}, "restarts": {1: 95.0, 2: 94.5}},
        "falling": {"steps": {10: 90.0, 20: 60.0}, "restarts": {1: 60.0, 2: 59.0}},
        "rising": {"steps": {10: 80.0, 20: 80.5}, "restarts": {1: 80.5, 2: 80.5}},
        "flat": {"steps": {10: 98.0, 20: 98.0}, "restarts": {1: 97.0, 2: 97.0}},
    }
    text = robustness.strength_verdicts(strength, 200)
    lines = dict(line[3:].split("`: ", 1) for line in text.splitlines()[1:])
    assert lines["broken"] == (
        "PGD breaks every one of the 200 images with 10 steps: nothing is left to fall."
    )
    assert "at the strongest setting: nothing is left to fall" in lines["late"]
    assert "going from 10 to 20 steps lowered it by 0.5 points" in lines["settled"]
    assert "no sign on 200 images that it is still falling" in lines["settled"]
    assert "95.5% (91.7-97.6) with 10 steps" in lines["settled"]
    assert "it is still falling, a stronger attack is needed" in lines["falling"]
    # restarts only add chances to break the same images: any drop is a real break
    assert "has not flattened yet" in lines["restarts_bite"]
    assert "has not flattened" not in lines["settled"]
    assert "raised it by 0.5 points" in lines["rising"] and "did not move it" in lines["rising"]
    assert "broke no further image of these 200: PGD has stopped finding more" in lines["flat"]
    assert "intervals" not in lines["flat"].split("at the strongest setting")[1]
    rows = robustness.strength_rows({"settled": strength["settled"]})
    assert rows == [
        {
            "model": "settled",
            "10 steps %": 95.5,
            "20 steps %": 95.0,
            "x1 %": 95.0,
            "x2 %": 95.0,
        }
    ]
    one = robustness.strength_verdicts({"m": {"steps": {10: 50.0}, "restarts": {1: 50.0}}}, 200)
    assert "one setting of each" in one


def test_training_attack_reads_the_recipe():
    recipe = fh.zoo.recipe
    assert robustness.training_attack(recipe("fgsm_at"), 0.3) == "trained against FGSM at this eps"
    normalized = robustness.training_attack(recipe("fgsm_at_normalized"), 0.3)
    assert normalized == (
        "trained against FGSM at eps 0.0924 in pixel units (0.3 in normalized units), "
        "not at the 0.3 evaluated here"
    )
    assert robustness.training_attack(recipe("fgsm_at"), 0.1).endswith(
        "not at the 0.1 evaluated here"
    )
    assert robustness.training_attack(recipe("fgsm_rs_smallcnn"), 0.3) == (
        "trained against FGSM from a random start at this eps"
    )
    assert robustness.training_attack(recipe("pgd_at_smallcnn"), 0.3) == (
        "trained against PGD (3 steps) at this eps"
    )
    assert robustness.training_attack(recipe("trades_widecnn"), 0.3) == (
        "trained with TRADES (a 3-step inner attack) at this eps"
    )
    assert robustness.training_attack(recipe("baseline"), 0.3) == "trained on clean images only"


def test_blind_verdicts_compare_with_intervals_and_name_the_recipe():
    recipes = {
        name: fh.zoo.recipe(name) for name in ("fgsm_at", "fgsm_at_normalized", "pgd_at_smallcnn")
    }
    blind = {
        "fgsm_at": {"fgsm": 88.0, "pgd": 0.0, "square": 0.0, "transfer": 40.0},
        "fgsm_at_normalized": {"fgsm": 54.0, "pgd": 0.0, "square": 0.0, "transfer": 0.0},
        "pgd_at_smallcnn": {"fgsm": 97.5, "pgd": 94.0, "square": 90.5, "transfer": 97.0},
    }
    text = robustness.blind_verdicts(blind, 200, recipes, 0.3, pgd_steps=50)
    lines = dict(line[3:].split("`: ", 1) for line in text.splitlines()[1:])
    assert lines["fgsm_at"].startswith("FGSM leaves 88.0% (82.8-91.8), PGD-50 0.0% (0.0-1.9)")
    assert "it was trained against FGSM at this eps. No black-box attack" in lines["fgsm_at"]
    assert "at eps 0.0924 in pixel units (0.3 in normalized units)" in lines["fgsm_at_normalized"]
    assert lines["pgd_at_smallcnn"].startswith("Square leaves 90.5% (85.6-93.8), PGD-50 94.0%")
    assert (
        "the intervals overlap, but on the same images Square broke at least 7 images that PGD-50 left"
        in lines["pgd_at_smallcnn"]
    )
    assert "FGSM leaves" not in lines["pgd_at_smallcnn"]
    masked = {"m": {"fgsm": 50.0, "pgd": 60.0, "square": 20.0, "transfer": 45.0}}
    text = robustness.blind_verdicts(
        masked, 200, {"m": recipes["pgd_at_smallcnn"]}, 0.3, pgd_steps=50
    )
    assert (
        "Square leaves 20.0%" in text and "intervals apart: PGD misses adversarial images" in text
    )
    rows = robustness.blind_rows(blind, pgd_steps=50, square_queries=1000, transfer_steps=20)
    assert list(rows[0]) == [
        "model",
        "FGSM %",
        "PGD-50 %",
        "Square (1000 queries) %",
        "transfer PGD-20 from baseline %",
    ]


def test_ceiling_verdict_is_exact():
    sweep = {"a": {0.3: 50.0, 0.5: 10.0, 0.6: 0.0}, "b": {0.3: 90.0, 0.5: 11.0, 0.6: 0.0}}
    works = robustness.ceiling_verdict(sweep, 11.0, 200)
    assert "PGD brings every model to it or below (`a` 10.0%, `b` 11.0%)" in works
    fails = robustness.ceiling_verdict({**sweep, "c": {0.3: 95.0, 0.5: 11.5, 0.6: 3.0}}, 11.0, 200)
    assert "Above it at eps 0.5 or more: `c` up to 11.5%" in fails and "this model's" in fails
    with pytest.raises(ValueError, match="ceiling"):
        robustness.ceiling_verdict({"a": {0.3: 1.0}}, 11.0, 200)


def test_measuring_functions_record_what_they_measure(random_cnn, tiny_batch, tmp_path):
    x, y = tiny_batch
    results_path = fh.results.results_file(tmp_path, "06_evaluating_robustness.ipynb")
    strength = robustness.pgd_strength(
        random_cnn,
        x,
        y,
        EPS,
        steps=(1, 2),
        restarts=(1, 2),
        restart_steps=1,
        progress=False,
        results_path=results_path,
        model_name="m",
    )
    sweep = robustness.pgd_sweep(
        {"m": random_cnn}, x, y, [0.0, EPS], steps=2, results_path=results_path
    )
    square = robustness.square_accuracy(
        random_cnn, x, y, EPS, queries=5, progress=False, results_path=results_path, model_name="m"
    )
    transfer = robustness.transfer_pgd_accuracy(
        random_cnn, random_cnn, x, y, EPS, steps=2, results_path=results_path, model_name="m"
    )
    records = fh.results.load_results(results_path)["records"]
    pgd = fh.results.find({"records": records}, attack="pgd", eps=EPS)
    # 1 step without restarts is both a step count and a restart count, and the sweep's 2 steps
    # are the same measurement as the strength's: one record each
    assert len(pgd) == 3
    assert {(r["steps"], r["restarts"]) for r in pgd} == {(1, 1), (2, 1), (1, 2)}
    assert fh.results.find({"records": records}, steps=2, restarts=1, eps=EPS)[0]["accuracy"] in (
        strength["steps"][2],
        sweep["m"][EPS],
    )
    (square_record,) = fh.results.find({"records": records}, attack="square")
    assert square_record["accuracy"] == pytest.approx(square) and square_record["n_images"] == 8
    (transfer_record,) = fh.results.find({"records": records}, attack="transfer_pgd")
    assert transfer_record["accuracy"] == pytest.approx(transfer)
    assert transfer_record["source_model"] == "baseline"
    assert sweep["m"][0.0] == fh.accuracy(random_cnn, x, y)
    with pytest.raises(ValueError, match="model_name"):
        robustness.square_accuracy(random_cnn, x, y, EPS, queries=5, results_path=results_path)


def test_surface_verdicts_for_each_case():
    rows = [
        {
            "model": "masked",
            "loss at the image": 0.01,
            "loss at the FGSM point": 0.33,
            "loss highest in the ball": 0.33,
            "loss after PGD-50": 14.39,
            "PGD / FGSM point": 43.6,
        },
        {
            "model": "sound",
            "loss at the image": 0.01,
            "loss at the FGSM point": 0.08,
            "loss highest in the ball": 0.09,
            "loss after PGD-50": 0.16,
            "PGD / FGSM point": 1.9,
        },
    ]
    accuracies = {"masked": {"fgsm": 88.0, "pgd": 0.0}, "sound": {"fgsm": 97.5, "pgd": 94.0}}
    text = robustness.surface_verdicts(rows, accuracies, 200, steps=50)
    lines = dict(line[3:].split("`: ", 1) for line in text.splitlines()[1:])
    assert lines["masked"].startswith("the FGSM point is the highest point of the slice")
    assert "43.6 times the FGSM point's 0.33" in lines["masked"]
    assert "0.0% (0.0-1.9), intervals apart: one step along the gradient misses" in lines["masked"]
    assert "the slice rises to 0.09, above the FGSM point's 0.08" in lines["sound"]
    assert "the search broke at least 7 images that the one step left standing" in lines["sound"]
    same = robustness.surface_verdicts(
        rows[1:], {"sound": {"fgsm": 94.0, "pgd": 94.0}}, 200, steps=50
    )
    assert "the search broke no more of these images than the one step" in same
