"""The robustness study (``fgsm-series robustness``): its bookkeeping, its verdicts, a quick run
that is interrupted and resumed, and the committed study."""

import copy
import json

import pytest
import torch

import fgsm_helpers as fh
from fgsm_helpers.studies import robustness as study_module
from fgsm_helpers.studies.robustness import (
    CHUNK,
    OUTCOME_CODES,
    PLAN,
    Run,
    counts_of,
    decode,
    encode,
    live_check,
    robust_accuracy,
)


def _run(key_model="trades_widecnn", seed=0, variant="recipe", outcomes=""):
    return {
        "key": Run(key_model, seed, variant).key,
        "model": key_model,
        "seed": seed,
        "variant": variant,
        "clean": 99.0,
        "outcomes": outcomes,
    }


def test_outcomes_round_trip_and_count_in_ensemble_order():
    labels = ["clean", "apgd-ce", None, "apgd-t", "fab-t", "square", None]
    assert decode(encode(labels)) == labels
    counts = counts_of(encode(labels))
    assert counts == {"clean": 1, "apgd-ce": 1, "apgd-t": 1, "fab-t": 1, "square": 1, "robust": 2}
    assert list(counts) == ["clean", "apgd-ce", "apgd-t", "fab-t", "square", "robust"]
    with pytest.raises(ValueError, match="unknown outcome codes"):
        decode("1x.")
    with pytest.raises(KeyError):
        encode(["pgd"])


def test_robust_accuracy_on_all_or_the_first_images():
    run = _run(outcomes="..1." + "c" * 4)  # 3 robust of 8; 3 of the first 4
    assert robust_accuracy(run) == pytest.approx(37.5)
    assert robust_accuracy(run, 4) == pytest.approx(75.0)
    with pytest.raises(ValueError, match="more than"):
        robust_accuracy(run, 9)
    with pytest.raises(ValueError, match="no images"):
        robust_accuracy(_run())


def test_run_keys_are_unique_and_the_plan_covers_the_issue():
    keys = [run.key for run in PLAN]
    assert len(set(keys)) == len(keys)
    assert Run("trades_widecnn", 0, images=10_000) in PLAN  # the defence on every test image
    assert {run.seed for run in PLAN if run.model == "trades_widecnn"} >= {0, 1, 2}
    for model in ("fgsm_rs_smallcnn", "pgd_at_smallcnn"):  # one step against several, 4 seeds
        seeds = {run.seed for run in PLAN if run.model == model and run.variant == "recipe"}
        assert seeds == {0, 1, 2, 3}
    assert {r.model for r in PLAN if r.variant == "no_ramp"} == {
        "trades_widecnn",
        "pgd_at_smallcnn",
    }
    for model in fh.zoo.RECIPES:  # every model of the chapters, on at least 1,000 images
        if model in ("fgsm_rs_papercnn", "pgd_at_smallcnn_budget"):
            continue
        assert Run(model, 0, images=10_000 if model == "trades_widecnn" else 1000) in PLAN
    assert Run("x", 3, "no_ramp").key == "x-s3-no_ramp"


def test_paired_counts_the_images_only_one_run_keeps():
    a = _run(outcomes="..1.c" + "." * 5)
    b = _run("trades_widecnn", 1, outcomes="...1c" + "." * 4 + "2")
    counts = study_module.paired(a, b, 10)
    assert (counts["only_first"], counts["only_second"], counts["same"]) == (2, 1, 7)
    assert counts["p_value"] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="do not both have 11"):
        study_module.paired(a, b, 11)


def test_live_check_compares_the_same_images_and_all_of_them():
    run = _run(outcomes="." * 180 + "1" * 20 + ("." * 9 + "2") * 980)  # 90% on 10,000
    agrees = live_check(run, 90.0, 200)
    assert agrees["study_same_images"] == 90.0 and agrees["study_all"] == pytest.approx(90.0)
    assert agrees["same_images_inside"] and agrees["all_inside"]
    off = live_check(run, 70.0, 200)
    assert not off["same_images_inside"] and not off["all_inside"]


def test_merge_keeps_each_run_where_it_went_furthest(tmp_path):
    base = {
        "description": "d",
        "command": "a",
        "configuration": study_module.configuration(True),
        "machine": {"cpu_model": "x"},
        "runs": [_run(outcomes="..")],
    }
    other = {
        **base,
        "command": "b",
        "runs": [_run(outcomes="...."), _run("baseline", 0, outcomes="1")],
    }
    (tmp_path / "a.json").write_text(json.dumps(base))
    (tmp_path / "b.json").write_text(json.dumps(other))
    merged = study_module.merge([tmp_path / "a.json", tmp_path / "b.json"], tmp_path / "m.json")
    assert [(r["key"], len(r["outcomes"])) for r in merged["runs"]] == [
        ("trades_widecnn-s0", 4),
        ("baseline-s0", 1),
    ]
    assert json.loads((tmp_path / "m.json").read_text())["command"] == "a; b"
    (tmp_path / "c.json").write_text(
        json.dumps({**base, "configuration": study_module.configuration(False)})
    )
    with pytest.raises(ValueError, match="another configuration"):
        study_module.merge([tmp_path / "a.json", tmp_path / "c.json"], tmp_path / "m.json")


@pytest.mark.slow
def test_quick_study_resumes_after_an_interruption(data_dir, tmp_path, monkeypatch, capsys):
    out, checkpoints = tmp_path / "robustness.json", tmp_path / "checkpoints"
    argv = [
        "robustness",
        "--quick",
        "--runs",
        "fgsm_rs_smallcnn-s1",
        "--out",
        str(out),
        "--checkpoints",
        str(checkpoints),
        "--data-dir",
        str(data_dir),
        "--device",
        "cpu",
    ]
    monkeypatch.setattr(study_module, "CHUNK", 20)  # 50 quick images: chunks of 20, 20 and 10
    calls = []
    real = study_module.autoattack

    def interrupted(*args, **kwargs):
        calls.append(len(args[1]))
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(study_module, "autoattack", interrupted)
    with pytest.raises(KeyboardInterrupt):
        fh.cli.main(argv)
    (run,) = json.loads(out.read_text())["runs"]
    assert len(run["outcomes"]) == 20 and run["trained"] == "trained"
    assert fh.cli.main(argv) == 0  # resumes: loads the model, attacks the last 30 images
    (run,) = json.loads(out.read_text())["runs"]
    assert calls == [20, 20, 20, 10] and len(run["outcomes"]) == 50
    assert (checkpoints / "fgsm_rs_smallcnn-s1" / "fgsm_rs_smallcnn.pt").is_file()
    assert run["recipe"]["seed"] == 1
    assert "50/50 images" in capsys.readouterr().out
    # the chunks give what one call with the same batches gives
    model, _ = fh.load_checkpoint(checkpoints / "fgsm_rs_smallcnn-s1" / "fgsm_rs_smallcnn.pt")
    x, y = fh.load_mnist("test", data_dir)
    whole = real(model, x[:50], y[:50], 0.3, steps=5, queries=50, batch_size=20, progress=False)
    assert encode(whole.broken_by) == run["outcomes"]


def test_committed_study_is_consistent():
    study = study_module.load_study()
    assert study["configuration"] == study_module.configuration(False)
    for run in study["runs"]:
        planned = study_module.PLAN_KEYS[run["key"]]
        assert run["images"] == planned.images and len(run["outcomes"]) <= run["images"]
        assert run["recipe"]["seed"] == planned.seed
        assert set(run["outcomes"]) <= set(OUTCOME_CODES.values())
        if planned.variant == "no_ramp":
            assert run["recipe"]["eps_ramp_epochs"] == 0.0
    assert CHUNK == 250


def _outcomes(robust, n):
    """``n`` outcomes with ``robust`` robust images spread evenly among them (so any first
    images keep about the same share), the broken ones spread over the attacks."""
    return "".join(
        "." if (i + 1) * robust // n > i * robust // n else "1234c"[i % 5] for i in range(n)
    )


def _fake_study(defence=(910, 905, 880), one=(0, 350, 2), multi=(430, 431, 425), ramp=(450, 300)):
    runs = [
        _run("trades_widecnn", 0, outcomes=_outcomes(defence[0] * 4, 4000)),
        *[
            _run("trades_widecnn", s, outcomes=_outcomes(k, 1000))
            for s, k in enumerate(defence)
            if s
        ],
        *[_run("fgsm_rs_smallcnn", s, outcomes=_outcomes(k, 500)) for s, k in enumerate(one)],
        *[_run("pgd_at_smallcnn", s, outcomes=_outcomes(k, 500)) for s, k in enumerate(multi)],
        _run("trades_widecnn", 0, "no_ramp", outcomes=_outcomes(ramp[0], 500)),
        _run("pgd_at_smallcnn", 0, "no_ramp", outcomes=_outcomes(ramp[1], 500)),
    ]
    return {"runs": runs}


def test_describe_defence_says_how_many_images_and_what_still_differs():
    text = study_module.describe_defence(_fake_study())
    assert "the first 4,000 test images" in text and "91.00%" in text
    assert "not distinguishable from" in text  # the leaderboard place, with intervals
    assert "torchattacks' port" in text and "single trained models" in text
    assert "on the images after them it keeps 91.00%" in text and "easier half" in text
    assert "\n\nThe same threat model" in text  # a paragraph of its own, not a list item


def test_describe_ablation_defence_says_two_machines_two_models():
    ablation = {
        "runs": [
            {
                "variant": "defence",
                "autoattack": 90.2,
                "autoattack_images": 1000,
                "train_device": "GPU (H100)",
            }
        ]
    }
    study = {"machine": {"cpu_model": "AMD EPYC", "cpu_count": 2}, **_fake_study()}
    text = study_module.describe_ablation_defence(study, ablation)
    assert "GPU (H100)" in text and "2-core AMD EPYC CPU" in text and "two different models" in text
    assert "`trades_widecnn` (the ablation's on a GPU (H100)" in text
    assert "90.2% (88.2-91.9, n=1,000) and 91.0% (89.1-92.6, n=1,000)" in text
    assert "not distinguishable at 95%" in text and "only their intervals" in text
    short = {"runs": [_run(outcomes="." * 500)]}
    with pytest.raises(ValueError, match="500 images, not 1000"):
        study_module.describe_ablation_defence(short, ablation)


def test_describe_seeds_compares_seeds_image_by_image():
    close = study_module.describe_seeds(_fake_study(defence=(910, 905, 900)))
    assert "no pair of seeds differs at the 5% level" in close and "McNemar" in close
    assert "Mean over the seeds 90.5%" in close and "pooled" in close
    apart = study_module.describe_seeds(_fake_study(defence=(930, 905, 860)))
    assert "3 pairs of seeds differ at the 5% level (0 and 1; 0 and 2; 1 and 2)" in apart
    assert "7.0 points" in apart
    with pytest.raises(ValueError, match="1 seed"):
        study_module.describe_seeds({"runs": _fake_study()["runs"][:1]})


def test_describe_steps_counts_failed_runs_and_tests_over_seeds():
    text = study_module.describe_steps(_fake_study())
    assert "2 of the 3 one-step runs" in text and "none of the 3 multi-step runs" in text
    assert "Every multi-step seed is above every one-step seed, intervals apart" in text
    assert "p = 0.1, the smallest p-value the test can give with 3 and 3 seeds" in text
    assert "more seeds are needed" in text
    assert study_module.smallest_rank_sum_p(3, 3) == pytest.approx(0.1)
    assert study_module.smallest_rank_sum_p(4, 4) == pytest.approx(2 / 70)
    assert study_module.smallest_rank_sum_p(1, 1) == 1.0
    assert "Fisher's exact test over the runs p = 0.4" in text
    assert "not steps alone" in text and "1.25·eps" in text
    mixed = study_module.describe_steps(_fake_study(one=(440, 420, 2)))
    assert "not all intervals apart" in mixed


def test_describe_ramp_compares_each_recipe_on_the_same_images():
    text = study_module.describe_ramp(_fake_study(ramp=(450, 120)))
    assert text.count("no difference at the 5% level") == 1
    assert text.count("a difference at the 5% level") == 1
    assert "(the training failed)" in text and "One seed each" in text
    ablated = study_module.ramp_ablated(_fake_study(ramp=(450, 120)))["pgd_at_smallcnn"]
    assert ablated["with"] == pytest.approx(86.0) and ablated["without"] == pytest.approx(24.0)
    assert ablated["only_first"] - ablated["only_second"] == 310


def test_describe_live_checks_each_model_against_the_study_on_the_same_images():
    class Live:
        def __init__(self, accuracy, n):
            self.accuracy, self.n_images = accuracy, n

    study = _fake_study()
    live = {
        "trades_widecnn": Live(91.0, 200),
        "fgsm_rs_smallcnn": Live(70.0, 200),
        "x": Live(1, 2),
    }
    text, checks = study_module.describe_live(study, live, same={"trades_widecnn": True})
    assert checks["trades_widecnn"]["same_images_inside"] and checks["trades_widecnn"]["same_model"]
    assert not checks["fgsm_rs_smallcnn"]["same_images_inside"]
    assert "x" not in checks and "`trades_widecnn` (the same model): this run 91.0%" in text
    assert "(another model of the same recipe)" in text and "outside that interval" in text


def test_same_model_compares_weights_not_files(random_cnn):
    study = {"runs": [{**_run(), "weights_sha256": study_module.weights_digest(random_cnn)}]}
    assert study_module.same_model(study, "trades_widecnn", random_cnn)
    other = copy.deepcopy(random_cnn)
    with torch.no_grad():
        next(other.parameters()).add_(1e-6)
    assert not study_module.same_model(study, "trades_widecnn", other)
    assert not study_module.same_model(study, "baseline", random_cnn)


def test_describe_reference_counts_the_images_they_disagree_on_and_each_check():
    reference = {
        "benchmark": "b.py",
        "images": 500,
        "after": {
            who: {"clean": 98.4, "apgd-ce": 94.4, "square": 92.0} for who in ("ours", "reference")
        },
        "robust_accuracy": {"ours": 91.8, "reference": 92.0},
        "only_ours_breaks": 1,
        "only_reference_breaks": 0,
        "mcnemar_exact_p": 1.0,
        "reference_checks_fired": ["check_square_sr", "check_zero_gradients"],
        "reference_warnings": [
            "Warning: Square Attack has decreased the robust accuracy of 1.60%."
        ],
    }
    text = study_module.describe_reference({"reference": reference})
    assert "the same outcome on 499 of the 500 images" in text and "after APGD-CE" in text
    assert "decreased the robust accuracy of 1.60%" in text and "upper bound" in text
    assert "`check_zero_gradients` fired too: some images have zero gradients" in text
    quiet = study_module.describe_reference(
        {"reference": {**reference, "reference_checks_fired": []}}
    )
    assert "None of the reference's own checks printed a warning." in quiet
    assert "no comparison" in study_module.describe_reference({})


def test_the_committed_ramp_ablation_and_failed_run_say_what_the_outcomes_show():
    study = study_module.load_study()
    ramp = study_module.describe_ramp(study)
    assert "AutoAttack broke none of its images, so 13.4% is its clean accuracy" in ramp
    assert "exactly the share of the test set's most common digit" in ramp
    failed = study_module.describe_failed(study)
    assert "consistent with chapter 05's catastrophic overfitting" in failed
