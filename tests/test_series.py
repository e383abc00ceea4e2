"""The shared models of the series: recipes, loading against training, records, fingerprints."""

import pytest
import torch

import fgsm_helpers as fh
from fgsm_helpers import series
from fgsm_helpers.results import find, load_results

TINY = {"train_subset": 300, "epochs": 1}  # about 2 s of training on 2 cores


def test_recipe_applies_overrides_and_refuses_unknown_settings():
    default = series.recipe("fgsm_at_normalized")
    assert default["eps_units"] == "normalized" and default["seed"] == 0
    assert default["train_subset"] is None
    changed = series.recipe("baseline", epochs=3, seed=7)
    assert (changed["epochs"], changed["seed"]) == (3, 7)
    assert series.RECIPES["baseline"]["epochs"] == 1  # the table itself is untouched
    with pytest.raises(ValueError, match="name must be one of"):
        series.recipe("resnet")
    with pytest.raises(ValueError, match="unknown recipe settings"):
        series.recipe("baseline", train_eps=0.3)


def test_get_model_trains_then_loads_and_retrains_on_a_new_recipe(data_dir, tmp_path):
    results_path = tmp_path / "results.json"
    trained, meta, how = series.get_model(
        "baseline", tmp_path, data_dir=data_dir, progress=False, results_path=results_path, **TINY
    )
    assert how == "trained" and (tmp_path / "baseline.pt").is_file()
    assert meta["recipe"] == series.recipe("baseline", **TINY)
    recorded = load_results(results_path)
    assert recorded["models"]["baseline"]["clean_accuracy"] == meta["clean_accuracy"]
    (clean,) = find(recorded, model="baseline", attack="none")
    assert clean["n_images"] == 10000 and clean["accuracy"] == meta["clean_accuracy"]

    loaded, loaded_meta, how = series.get_model(
        "baseline", tmp_path, data_dir=data_dir, progress=False, **TINY
    )
    assert how == "loaded" and loaded_meta["recipe"] == meta["recipe"]
    assert series.fingerprint(*loaded.state_dict().values()) == series.fingerprint(
        *trained.state_dict().values()
    )

    _, reseeded_meta, how = series.get_model(
        "baseline", tmp_path, data_dir=data_dir, progress=False, seed=1, **TINY
    )
    assert how == "trained" and reseeded_meta["recipe"]["seed"] == 1


def test_train_shared_model_refuses_data_that_is_not_the_recipes(mnist_train, tmp_path):
    x, y = mnist_train
    with pytest.raises(ValueError, match="trains on 300 images"):
        series.train_shared_model(
            "baseline", x[:200], y[:200], x[:10], y[:10], tmp_path, progress=False, **TINY
        )


def test_record_model_writes_card_and_clean_record(tmp_path):
    meta = {
        "name": "pgd_at_smallcnn",
        "recipe": {"architecture": "SmallCNN", "epochs": 5, "optimizer": "Adam", "seed": 0},
        "train_seconds": 12.0,
        "clean_accuracy": 97.5,
        "parameters": 1234,
        "epochs_kept": 3,
    }
    results = series.record_model(tmp_path / "r.json", "pgd_at_smallcnn", meta, n_test_images=500)
    assert results["models"]["pgd_at_smallcnn"]["epochs_kept"] == 3
    (record,) = find(results, model="pgd_at_smallcnn", attack="none")
    assert (record["accuracy"], record["n_images"]) == (97.5, 500)
    with pytest.raises(ValueError, match="n_test_images"):
        series.record_model(tmp_path / "r.json", "x", meta, n_test_images=0)


def test_describe_says_where_the_model_came_from():
    meta = {
        "name": "fgsm_at",
        "recipe": series.recipe("fgsm_at"),
        "clean_accuracy": 98.765,
        "train_seconds": 61.4,
    }
    text = series.describe(meta, "loaded")
    assert text.startswith("Loaded from its checkpoint: fgsm_at (PaperCNN, 1 epoch(s) of Adam")
    assert "clean + FGSM images at eps 0.3 (pixel units)" in text
    assert "98.77%" in text and "61 s" in text
    assert series.describe(meta, "trained").startswith("Trained now and saved")
    with pytest.raises(ValueError, match="how must be"):
        series.describe(meta, "cached")
    early_stopped = {
        **meta,
        "name": "fgsm_rs_smallcnn",
        "recipe": {
            "architecture": "SmallCNN",
            "optimizer": "Adam",
            "seed": 0,
            "epochs": 10,
            "attack": "fgsm_rs",
            "train_eps": 0.3,
            "adv_weight": 1.0,
        },
        "epochs_kept": 4,
    }
    text = series.describe(early_stopped, "trained")
    assert (
        "10 epoch(s), epoch 4 kept, of Adam, FGSM_RS images at eps 0.3 (pixel units) only" in text
    )


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
    recipes = {name: series.recipe(name) for name in series.RECIPES}
    card = series.protocol_card(recipes, test_images=10000)
    assert "0.3081" in card["eps_units"]["normalized"]
    assert card["test_set"] == "MNIST test set, 10000 images"
    assert card["attack_labels"] == "true labels"
    assert card["recipes"]["fgsm_at"]["adv_weight"] == 0.5
