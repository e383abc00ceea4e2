"""The model zoo: one recipe table, one ``get`` (load or train), the one place that decides
"the same recipe", records and descriptions."""

import pytest

import fgsm_helpers as fh
from fgsm_helpers import zoo
from fgsm_helpers.results import find, load_results

TINY = {"train_subset": 300, "epochs": 1}  # about 2 s of training on 2 cores
SIX = ("baseline", "fgsm_at", "fgsm_at_normalized", "fgsm_rs_smallcnn", "pgd_at_smallcnn")


def test_recipe_applies_overrides_and_refuses_unknown_settings():
    default = zoo.recipe("fgsm_at_normalized")
    assert default["eps_units"] == "normalized" and default["seed"] == 0
    assert default["train_subset"] is None
    changed = zoo.recipe("baseline", epochs=3, seed=7)
    assert (changed["epochs"], changed["seed"]) == (3, 7)
    assert zoo.RECIPES["baseline"]["epochs"] == 1  # the table itself is untouched
    with pytest.raises(ValueError, match="name must be one of"):
        zoo.recipe("resnet")
    with pytest.raises(ValueError, match="unknown recipe settings"):
        zoo.recipe("baseline", train_eps=0.3)
    robust = zoo.recipe("trades_widecnn", epochs=1)
    assert robust["epochs"] == 1 and robust["eps_ramp_epochs"] == 1  # the ramp never outlasts
    robust["attack_kwargs"]["beta"] = 0.0
    assert zoo.RECIPES["trades_widecnn"]["attack_kwargs"]["beta"] == 6.0
    with pytest.raises(ValueError, match="unknown recipe settings"):
        zoo.recipe("pgd_at_smallcnn", colour="red")


@pytest.mark.slow
def test_get_trains_then_loads_and_retrains_on_a_new_recipe(data_dir, tmp_path):
    results_path = tmp_path / "results.json"
    trained, meta, _, how = zoo.get(
        "baseline", tmp_path, data_dir=data_dir, progress=False, results_path=results_path, **TINY
    )
    assert how == "trained" and (tmp_path / "baseline.pt").is_file()
    assert meta["recipe"] == zoo.recipe("baseline", **TINY)
    recorded = load_results(results_path)
    assert recorded["models"]["baseline"]["clean_accuracy"] == meta["clean_accuracy"]
    (clean,) = find(recorded, model="baseline", attack="none")
    assert clean["n_images"] == 10000 and clean["accuracy"] == meta["clean_accuracy"]

    loaded, loaded_meta, _, how = zoo.get(
        "baseline", tmp_path, data_dir=data_dir, progress=False, **TINY
    )
    assert how == "loaded" and loaded_meta["recipe"] == meta["recipe"]
    assert fh.series.fingerprint(*loaded.state_dict().values()) == fh.series.fingerprint(
        *trained.state_dict().values()
    )

    _, reseeded_meta, _, how = zoo.get(
        "baseline", tmp_path, data_dir=data_dir, progress=False, seed=1, **TINY
    )
    assert how == "trained" and reseeded_meta["recipe"]["seed"] == 1


@pytest.mark.slow
def test_train_shared_model_refuses_data_that_is_not_the_recipes(mnist_train, tmp_path):
    x, y = mnist_train
    with pytest.raises(ValueError, match="trains on 300 images"):
        zoo.train_shared_model(
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
    results = zoo.record_model(tmp_path / "r.json", "pgd_at_smallcnn", meta, n_test_images=500)
    assert results["models"]["pgd_at_smallcnn"]["epochs_kept"] == 3
    (record,) = find(results, model="pgd_at_smallcnn", attack="none")
    assert (record["accuracy"], record["n_images"]) == (97.5, 500)
    with pytest.raises(ValueError, match="n_test_images"):
        zoo.record_model(tmp_path / "r.json", "x", meta, n_test_images=0)


def test_describe_says_where_the_model_came_from():
    meta = {
        "name": "fgsm_at",
        "recipe": zoo.recipe("fgsm_at"),
        "clean_accuracy": 98.765,
        "train_seconds": 61.4,
    }
    text = zoo.describe(meta, "loaded")
    assert text.startswith("Loaded from its checkpoint: fgsm_at (PaperCNN, 1 epoch of Adam")
    assert "clean + FGSM images at eps 0.3 (pixel units)" in text
    assert "98.77%" in text and "61 s" in text
    assert zoo.describe(meta, "trained").startswith("Trained now and saved")
    with pytest.raises(ValueError, match="how must be"):
        zoo.describe(meta, "cached")
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
    text = zoo.describe(early_stopped, "trained")
    assert "10 epochs of Adam (epoch 4 kept), FGSM_RS images at eps 0.3 (pixel units) only" in text


def test_one_table_holds_every_model_of_the_series():
    assert set(SIX) | {"trades_widecnn"} <= set(zoo.RECIPES)
    assert [zoo.is_robust(name) for name in SIX] == [False, False, False, True, True]
    for name in zoo.RECIPES:
        assert zoo.build_model(zoo.recipe(name)["architecture"]) is not None


def test_the_same_recipe_is_decided_in_one_place():
    paper = zoo.saved_recipe("fgsm_at", epochs=2)
    assert paper == zoo.recipe("fgsm_at", epochs=2)
    robust = zoo.saved_recipe("pgd_at_smallcnn", train_images=59000, seed=3)
    assert robust["seed"] == 3 and robust["train_images"] == 59000
    assert robust["early_stopping"] == "none: the last epoch is kept"
    assert robust["attack_kwargs"] == {"steps": 3, "alpha_ratio": 0.5}
    assert robust != zoo.saved_recipe("pgd_at_smallcnn", train_images=2000, seed=3)
    best = zoo.saved_recipe("fgsm_rs_smallcnn", train_images=100, val_images=50, val_pgd_steps=5)
    assert best["early_stopping"] == "best PGD-5 accuracy on 50 held-out images"
    with pytest.raises(ValueError, match="train_images"):
        zoo.saved_recipe("pgd_at_smallcnn")
    assert zoo.recipe("fgsm_rs_papercnn", train_images=1000)["train_images"] == 1000


@pytest.mark.slow
def test_a_recipe_that_takes_the_first_images_trains_on_them(mnist_train, mnist_test, tmp_path):
    """fgsm_rs_papercnn's recipe names how many training images it takes (train_images)."""
    x, y = mnist_train[0][:700], mnist_train[1][:700]
    common = dict(
        x_train=x[:600],
        y_train=y[:600],
        x_val=x[600:],
        y_val=y[600:],
        x_test=mnist_test[0][:100],
        y_test=mnist_test[1][:100],
        val_pgd_steps=1,
        progress=False,
        epochs=1,
        train_images=300,
    )
    trained = zoo.get("fgsm_rs_papercnn", tmp_path, **common)
    assert trained.how == "trained" and trained.meta["recipe"]["train_images"] == 300
    assert zoo.get("fgsm_rs_papercnn", tmp_path, **common).how == "loaded"


@pytest.mark.slow
def test_a_robust_model_trains_once_then_loads_whoever_asks(mnist_train, mnist_test, tmp_path):
    x, y = mnist_train[0][:600], mnist_train[1][:600]
    common = dict(
        x_train=x[:500],
        y_train=y[:500],
        x_val=x[500:],
        y_val=y[500:],
        x_test=mnist_test[0][:200],
        y_test=mnist_test[1][:200],
        val_pgd_steps=2,
        progress=False,
        epochs=1,
    )
    results = tmp_path / "results.json"
    model, meta, history, how = zoo.get("trades_widecnn", tmp_path, results_path=results, **common)
    assert how == "trained" and len(history) == 1 and isinstance(model, fh.WideCNN)
    assert meta["test_images"] == 200 and not model.training
    (clean,) = find(load_results(results), model="trades_widecnn", attack="none")
    assert (clean["accuracy"], clean["n_images"]) == (meta["clean_accuracy"], 200)
    again = zoo.get("trades_widecnn", tmp_path, results_path=results, **common)
    assert again.how == "loaded" and again.meta["clean_accuracy"] == meta["clean_accuracy"]
    assert again.history == history
    assert again.meta["epochs_kept"] == meta["epochs_kept"] == 1  # saved with the checkpoint
    assert zoo.get("trades_widecnn", tmp_path, **{**common, "epochs": 2}).how == "trained"
