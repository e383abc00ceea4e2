"""The series' robust-model recipes (``fh.defence``): recipes, loading or training, the
ablation study's command and the committed study."""

import json

import pytest

import fgsm_helpers as fh
from fgsm_helpers import defence


def test_recipes_copy_and_validate():
    wanted = defence.recipe("trades_widecnn", epochs=1)
    assert wanted["epochs"] == 1 and wanted["eps_ramp_epochs"] == 1
    wanted["attack_kwargs"]["beta"] = 0.0
    assert defence.RECIPES["trades_widecnn"]["attack_kwargs"]["beta"] == 6.0
    with pytest.raises(ValueError, match="name must be one of"):
        defence.recipe("nope")
    with pytest.raises(ValueError, match="unknown recipe settings"):
        defence.recipe("pgd_at_smallcnn", colour="red")
    for variant in defence.ABLATION:
        assert defence.ablation_recipe(variant)["architecture"] in ("SmallCNN", "WideCNN")
    assert defence.ablation_recipe("no_trades")["attack"] == "pgd"
    with pytest.raises(ValueError, match="variant"):
        defence.ablation_recipe("nope")


def test_get_trained_trains_once_then_loads(mnist_train, mnist_test, tmp_path):
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
    model, history, meta, how = defence.get_trained("trades_widecnn", tmp_path, **common)
    assert how == "trained" and len(history) == 1 and isinstance(model, fh.WideCNN)
    again, _, meta_again, how = defence.get_trained("trades_widecnn", tmp_path, **common)
    assert how == "loaded" and meta_again["clean_accuracy"] == meta["clean_accuracy"]
    _, _, _, how = defence.get_trained("trades_widecnn", tmp_path, **{**common, "epochs": 2})
    assert how == "trained"


def test_ablation_command_quick(data_dir, tmp_path, capsys):
    out = tmp_path / "ablation.json"
    code = fh.runner.main(
        [
            "ablation",
            "--variants",
            "defence",
            "--quick",
            "--out",
            str(out),
            "--data-dir",
            str(data_dir),
            "--device",
            "cpu",
        ]
    )
    assert code == 0
    study = json.loads(out.read_text())
    (row,) = study["runs"]
    assert row["variant"] == "defence" and row["autoattack_images"] == defence.QUICK["test_images"]
    assert sum(row["broken_by"].values()) == row["autoattack_images"]
    assert "AutoAttack" in capsys.readouterr().out
    with pytest.raises(SystemExit):  # argparse refuses an unknown variant
        fh.runner.main(["ablation", "--variants", "nope", "--out", str(out)])


def test_committed_ablation_study_is_complete():
    study = defence.load_study()
    variants = {row["variant"] for row in study["runs"]}
    assert set(defence.ABLATION) <= variants
    for row in study["runs"]:
        assert row["recipe"] == defence.ablation_recipe(row["variant"])
        assert sum(row["broken_by"].values()) == row["autoattack_images"] == 1000
        assert row["autoattack"] == pytest.approx(100 * row["broken_by"]["robust"] / 1000)
