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


def _study(**autoattack):
    """A made-up study: the defence and variants with the given AutoAttack figures (1,000
    images each)."""
    runs = [
        {
            "variant": variant,
            "change": f"change {variant}",
            "seed": 0,
            "clean": 99.0,
            "autoattack": value,
            "autoattack_images": 1000,
            "recipe": {"epochs": 3},
            "train_device": "cpu",
        }
        for variant, value in autoattack.items()
    ]
    return {"runs": runs}


def test_ablation_rows_carry_intervals_and_the_difference_from_the_defence():
    rows = defence.ablation_rows(_study(defence=90.0, no_trades=88.5))
    assert [row["variant"] for row in rows] == ["change defence", "change no_trades"]
    assert rows[0]["95% interval"] == "88.0-91.7"
    assert rows[1]["vs defence"] == pytest.approx(-1.5)
    assert rows[1]["epochs"] == 3


def test_compare_variants_ranks_only_where_the_intervals_separate():
    groups = defence.compare_variants(_study(defence=90.0, a=88.5, b=80.0, c=97.0))
    assert [row["variant"] for row in groups["not distinguishable"]] == ["a"]
    assert [row["variant"] for row in groups["below"]] == ["b"]
    assert [row["variant"] for row in groups["above"]] == ["c"]
    with pytest.raises(ValueError, match="defence"):
        defence.compare_variants(_study(a=90.0))


def test_describe_study_says_what_the_intervals_allow():
    undecided = defence.describe_study(_study(defence=90.0, a=88.5))
    assert "Not distinguishable from it: change a, 88.5% (86.4-90.3)" in undecided
    assert "Below it, intervals apart: none" in undecided
    assert "cannot tell which ingredient matters" in undecided
    apart = defence.describe_study(_study(defence=90.0, b=80.0))
    assert "Below it, intervals apart: change b, 80.0%" in apart
    assert "not yet a property of the recipes" in apart
    assert "counts, not which images" in apart and "conservative" in apart


def test_committed_study_is_described_with_intervals():
    text = defence.describe_study(defence.load_study())
    assert "90.2% (88.2-91.9)" in text and "1,000 test images" in text
