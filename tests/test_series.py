"""The measurements chapters share: fingerprints, FGSM curves reused across chapters, the
protocol card."""

import torch

import fgsm_helpers as fh
from fgsm_helpers import series, zoo


def test_fingerprint_changes_with_values_dtype_and_shape():
    x = torch.arange(6, dtype=torch.float32)
    assert series.fingerprint(x) == series.fingerprint(x.clone())
    assert len(series.fingerprint(x)) == 16
    others = [x + 1e-6, x.double(), x.reshape(2, 3), torch.arange(6)]
    assert len({series.fingerprint(t) for t in [x, *others]}) == 5
    assert series.fingerprint(x, x) != series.fingerprint(x)


def test_fgsm_curve_measures_once_then_reuses(random_cnn, tiny_batch, tmp_path):
    x, y = tiny_batch
    results_path = tmp_path / "results.json"
    eps = [0.0, 0.1, 0.3]
    curve, how = series.fgsm_curve("m", random_cnn, x, y, eps, results_path, progress=False)
    assert how == "measured"
    assert curve == fh.robustness_curve(random_cnn, x, y, eps)
    again, how = series.fgsm_curve("m", random_cnn, x, y, eps[1:], results_path, progress=False)
    assert how == "reused" and again == {e: curve[e] for e in eps[1:]}
    # other images or other weights: measured again, never reused
    _, how = series.fgsm_curve("m", random_cnn, x[:4], y[:4], eps, results_path, progress=False)
    assert how == "measured"
    with torch.no_grad():
        next(random_cnn.parameters()).add_(0.01)
    _, how = series.fgsm_curve("m", random_cnn, x, y, eps, results_path, progress=False)
    assert how == "measured"


def test_protocol_card_names_units_labels_and_recipes():
    recipes = {name: zoo.recipe(name) for name in ("baseline", "fgsm_at")}
    card = series.protocol_card(recipes, test_images=10000)
    assert "0.3081" in card["eps_units"]["normalized"]
    assert card["test_set"] == "MNIST test set, 10000 images"
    assert card["attack_labels"] == "true labels"
    assert card["recipes"]["fgsm_at"]["adv_weight"] == 0.5


def test_protocol_card_records_itself_when_given_the_results_file(tmp_path):
    recipes = {name: zoo.recipe(name) for name in ("baseline", "fgsm_at")}
    results_path = tmp_path / "results.json"
    card = series.protocol_card(recipes, test_images=500, results_path=results_path)
    assert fh.results.load_results(results_path)["protocol"]["card"] == card
    assert series.protocol_card(recipes, test_images=500) == card  # without: nothing written


def test_format_protocol_card_has_a_line_per_setting_and_recipe():
    recipes = {"baseline": zoo.recipe("baseline"), "fgsm_at": zoo.recipe("fgsm_at", epochs=2)}
    text = series.format_protocol_card(series.protocol_card(recipes, test_images=10000))
    lines = text.splitlines()
    assert lines[0].startswith("eps_units (pixel): ")
    assert "test_set: MNIST test set, 10000 images" in lines
    assert any(
        line.startswith("recipe baseline: PaperCNN, Adam lr 0.002 (cyclic), 1 epoch, batch 64")
        and line.endswith("adversarial: none")
        for line in lines
    )
    assert any(
        ", 2 epochs, " in line and "adversarial: fgsm eps=0.3 (pixel), mix 0.5" in line
        for line in lines
    )
    assert "(s)" not in text


def test_fgsm_and_pgd_curves_measure_on_the_same_images_and_record_both(
    random_cnn, tiny_batch, tmp_path
):
    x, y = tiny_batch
    results_path = fh.results.results_file(tmp_path, "04_results_comparison.ipynb")
    eps = [0.1, 0.3]
    fgsm, pgd = series.fgsm_and_pgd_curves(
        "m", random_cnn, x, y, eps, results_path, steps=2, restarts=1, progress=False
    )
    assert fgsm == fh.robustness_curve(random_cnn, x, y, eps)
    assert set(pgd) == set(eps) and all(0 <= a <= 100 for a in pgd.values())
    records = fh.results.load_results(results_path)["records"]
    assert {(r["attack"], r["eps"]) for r in records} == {
        (attack, e) for attack in ("fgsm", "pgd") for e in eps
    }
    for record in records:
        assert record["n_images"] == len(x) and record["labels"] == "true"
        assert record["notebook"] == "04_results_comparison.ipynb"
        if record["attack"] == "pgd":
            assert (record["steps"], record["restarts"]) == (2, 1)
            assert record["alpha"] == "2.5*eps/steps"


def test_flat_gray_accuracy_measures_and_records(random_cnn, tiny_batch, tmp_path):
    x, y = tiny_batch
    results_path = tmp_path / "results.json"
    value = series.flat_gray_accuracy("m", random_cnn, x, y, results_path)
    assert value == fh.accuracy(random_cnn, fh.flat_gray_attack(x, 0.5), y)
    assert value <= fh.accuracy_ceiling(y) + 1e-9  # every image is the same gray square
    (record,) = fh.results.load_results(results_path)["records"]
    assert (record["attack"], record["eps"], record["n_images"]) == ("flat_gray", 0.5, len(x))
