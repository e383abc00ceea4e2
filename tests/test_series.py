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
