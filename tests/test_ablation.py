"""The ablation study behind chapter 06's defence: its variants, its command and the committed
study."""

import json

import pytest

import fgsm_helpers as fh
from fgsm_helpers.studies import ablation as defence


def test_each_variant_changes_the_defence():
    for variant in defence.ABLATION:
        assert defence.ablation_recipe(variant)["architecture"] in ("SmallCNN", "WideCNN")
    assert defence.ablation_recipe("no_trades")["attack"] == "pgd"
    assert defence.ablation_recipe("no_width")["architecture"] == "SmallCNN"
    assert defence.ablation_recipe("defence", epochs=1)["eps_ramp_epochs"] == 1
    with pytest.raises(ValueError, match="variant"):
        defence.ablation_recipe("nope")


@pytest.mark.slow
def test_ablation_command_quick(data_dir, tmp_path, capsys):
    out = tmp_path / "ablation.json"
    code = fh.cli.main(
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
        fh.cli.main(["ablation", "--variants", "nope", "--out", str(out)])


def test_committed_ablation_study_is_complete():
    study = defence.load_study()
    variants = {row["variant"] for row in study["runs"]}
    assert set(defence.ABLATION) <= variants
    for row in study["runs"]:
        assert row["recipe"] == defence.ablation_recipe(row["variant"])
        assert sum(row["broken_by"].values()) == row["autoattack_images"] == 1000
        assert row["autoattack"] == pytest.approx(100 * row["broken_by"]["robust"] / 1000)
