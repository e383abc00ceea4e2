"""The FGSM-RS collapse study: the published loop, the variants, the committed study."""

import json

import pytest
import torch
from torch import nn

import fgsm_helpers as fh
from fgsm_helpers.studies import collapse


def test_published_net_is_smallcnn_without_normalization():
    plain, normalized = collapse.published_mnist_net(), collapse.published_mnist_net(True)
    assert not any(isinstance(m, fh.models.Normalize) for m in plain)
    assert isinstance(normalized[0], fh.models.Normalize)
    assert fh.count_parameters(plain) == fh.count_parameters(fh.SmallCNN()) == 166_406


def _tiny_data(n=200):
    generator = torch.Generator().manual_seed(0)
    return torch.rand(n, 1, 28, 28, generator=generator), torch.randint(
        0, 10, (n,), generator=generator
    )


@pytest.mark.parametrize("clamp_start", [False, True])
def test_published_loop_trains_and_is_repeatable(clamp_start):
    x, y = _tiny_data()
    first = collapse.train_published_fgsm_rs(
        x, y, seed=3, epochs=1, clamp_start=clamp_start, progress=False
    )
    again = collapse.train_published_fgsm_rs(
        x, y, seed=3, epochs=1, clamp_start=clamp_start, progress=False
    )
    untrained = collapse.published_mnist_net()
    for a, b in zip(first.parameters(), again.parameters()):
        assert torch.equal(a, b)  # same seed, same model
    assert not first.training
    torch.manual_seed(3)
    fresh = collapse.published_mnist_net()
    assert any(not torch.equal(a, b) for a, b in zip(first.parameters(), fresh.parameters()))
    assert isinstance(untrained, nn.Sequential)


def test_clamped_start_is_plain_fgsm_on_black_pixels():
    """The study's explanation, checked on the package's FGSM-RS: on black pixels (0) whose loss
    gradient points up, a step of 1.25 eps from a start clamped into [0, 1] always lands on +eps,
    plain FGSM's point, whatever the random start; from an unclamped start (the published code)
    it lands anywhere in [0.25 eps, eps]."""
    eps, alpha = 0.3, 0.375
    model = nn.Sequential(nn.Flatten(), nn.Linear(4, 2, bias=False))
    with torch.no_grad():  # class 0 is the label; every pixel raises the loss by raising class 1
        model[1].weight.copy_(torch.tensor([[-1.0] * 4, [1.0] * 4]))
    x, y = torch.zeros(256, 1, 2, 2), torch.zeros(256, dtype=torch.long)
    generator = torch.Generator().manual_seed(0)
    x_adv = fh.fgsm_random_start(model, x, y, eps, alpha, generator=generator)
    assert torch.equal(x_adv, fh.fgsm(model, x, y, eps))  # every start ends at plain FGSM
    assert torch.allclose(x_adv, torch.full_like(x_adv, eps))
    start = torch.linspace(-eps, eps, 1001)  # the published loop: no clamp before the step
    unclamped = (start + alpha).clamp(-eps, eps).clamp(min=0)
    assert unclamped.min().item() == pytest.approx(0.25 * eps) and unclamped.max() == eps


def test_unknown_variant_refused():
    x, y = _tiny_data(20)
    with pytest.raises(ValueError, match="variant must be one of"):
        collapse.train_variant("nonsense", x, y, seed=0, epochs=1, progress=False)


def test_summary_counts_and_rates():
    study = {
        "runs": [
            {"variant": "published", "seed": s, "pgd": p, "clean": 98.0, "collapsed": p < 50}
            for s, p in enumerate([90.0, 10.0, 80.0, 85.0])
        ]
    }
    (row,) = collapse.summarize(study)
    assert row["runs"] == 4 and row["collapsed"] == 1 and row["rate"] == 25.0
    assert row["seeds_collapsed"] == [1]
    assert row["pgd_min"] == 10.0 and row["pgd_max"] == 90.0 and row["pgd_median"] == 82.5
    assert row["pgd_mean_not_collapsed"] == pytest.approx(85.0)


@pytest.mark.slow
def test_study_runs_saves_and_resumes(tmp_path, data_dir, monkeypatch):
    monkeypatch.setitem(collapse.QUICK, "epochs", 1)
    monkeypatch.setitem(collapse.QUICK, "train_images", 300)
    monkeypatch.setitem(collapse.QUICK, "test_images", 30)
    monkeypatch.setitem(collapse.QUICK, "pgd_steps", 2)
    out = tmp_path / "study.json"
    variants = ("published", "published_clamped_start")
    study = collapse.run_study(
        [0], out, variants=variants, data_dir=data_dir, quick=True, progress=False
    )
    assert [(r["variant"], r["seed"]) for r in study["runs"]] == [(v, 0) for v in variants]
    for run in study["runs"]:
        assert 0 <= run["pgd"] <= 100 and run["collapsed"] == (run["pgd"] < 50)
    saved = json.loads(out.read_text())
    assert saved["runs"] == study["runs"] and saved["configuration"]["quick"] is True
    again = collapse.run_study(
        [0], out, variants=variants, data_dir=data_dir, quick=True, progress=False
    )
    assert again["runs"] == study["runs"]  # nothing retrained: resumed from the file
    with pytest.raises(ValueError, match="another configuration"):
        collapse.run_study([0], out, variants=variants, data_dir=data_dir, quick=False)


def test_committed_study_is_complete_and_consistent():
    study = collapse.load_study()
    assert study["configuration"]["quick"] is False
    assert study["configuration"]["train_images"] == 60000
    assert study["configuration"]["epochs"] == collapse.PUBLISHED["epochs"] == 10
    seeds = {r["seed"] for r in study["runs"]}
    assert len(seeds) >= 5
    for variant in collapse.VARIANTS:
        assert {r["seed"] for r in study["runs"] if r["variant"] == variant} == seeds, variant
    for run in study["runs"]:
        assert run["collapsed"] == (run["pgd"] < study["configuration"]["collapse_below"])
    assert study["summary"] == collapse.summarize(study)


def test_rate_table_gives_intervals_and_fisher_against_the_reference():
    rows = {row["variant"]: row for row in collapse.rate_table(collapse.load_study())}
    study = collapse.load_study()
    for variant, row in rows.items():
        runs = [r for r in study["runs"] if r["variant"] == variant]
        k = sum(r["collapsed"] for r in runs)
        assert row["collapsed"] == f"{k} of {len(runs)}"
        low, high = fh.stats.wilson_interval(k, len(runs))
        assert row["rate % (95% interval)"].endswith(f"({low:.0f}-{high:.0f})")
    assert rows["published"]["Fisher p vs published"] == "-"
    published = sum(r["collapsed"] for r in study["runs"] if r["variant"] == "published")
    normalized = sum(
        r["collapsed"] for r in study["runs"] if r["variant"] == "published_normalized"
    )
    p_value = fh.stats.fisher_exact(normalized, 5, published, 5)
    assert rows["published_normalized"]["Fisher p vs published"] == f"{p_value:.2g}"
    with pytest.raises(ValueError, match="reference"):
        collapse.rate_table(study, reference="nonsense")


def _history(pgd, fgsm=None, kept=None):
    fgsm = fgsm or [95.0] * len(pgd)
    return [
        {"epoch": i + 1, "val_score": p, "val_fgsm": f, "kept": i + 1 == kept}
        for i, (p, f) in enumerate(zip(pgd, fgsm))
    ]


CHAPTER_RUN = _history(
    [2.4, 0.0, 0.0, 0.0, 59.2, 78.0, 84.2, 90.3, 84.7, 88.7],
    [93.1, 99.2, 99.8, 96.4, 90.4, 94.5, 95.2, 95.5, 95.5, 96.4],
    kept=8,
)


def test_history_collapse_reads_a_collapse_and_a_recovery():
    c = collapse.history_collapse(CHAPTER_RUN)
    assert c["collapsed_epochs"] == [1, 2, 3, 4] and c["recovered"] is True
    assert (c["kept"], c["kept_score"], c["kept_when"]) == (8, 90.3, "after")
    assert (c["final"], c["final_score"], c["final_collapsed"]) == (10, 88.7, False)


@pytest.mark.parametrize(
    ("pgd", "kept", "when", "recovered"),
    [
        ([70.0, 80.0, 90.0], 3, None, False),  # never below the threshold
        ([70.0, 80.0, 20.0, 10.0], 2, "before", False),  # collapsed at the end
        ([70.0, 20.0, 80.0, 10.0, 85.0], 5, "after", True),  # two collapses, recovered
        ([70.0, 20.0, 80.0, 10.0, 60.0], 3, "between", True),
        ([10.8, 3.1, 0.8], 1, "during", False),  # every epoch collapsed
        ([60.0, 10.0], None, "during", False),  # nothing marked: the last epoch is kept
    ],
)
def test_history_collapse_cases(pgd, kept, when, recovered):
    c = collapse.history_collapse(_history(pgd, kept=kept))
    assert c["kept_when"] == when and c["recovered"] is recovered
    assert c["kept"] == (kept or len(pgd))


CASES = {
    "the chapter's run": CHAPTER_RUN,
    "no collapse": _history([70.0, 80.0, 90.0], kept=3),
    "one epoch, no collapse": _history([60.0], kept=1),
    "one epoch, collapsed": _history([30.0], kept=1),
    "every epoch": _history([10.8, 3.1, 0.8, 0.1, 2.6], kept=1),
    "collapsed at the end": _history([70.0, 80.0, 20.0, 10.0], kept=2),
    "recovered in the last epoch": _history([70.0, 20.0, 80.0, 10.0, 85.0], kept=5),
    "kept between": _history([70.0, 20.0, 80.0, 10.0, 60.0], kept=3),
    "collapse in epoch 1 only": _history([0.1, 73.0, 88.0, 92.0], kept=4),
    "never learned (quick mode)": _history([10.0, 10.0], [10.0, 10.0], kept=1),
    "not robust yet, then collapsed": _history(
        [1.5, 73.0, 20.0, 80.0], [12.0, 90.0, 97.0, 95.0], kept=4
    ),
}


@pytest.mark.parametrize("history", CASES.values(), ids=CASES.keys())
def test_describe_history_reads_as_written_in_every_case(history):
    text = collapse.describe_history(history, pgd_steps=20)
    c = collapse.history_collapse(history)
    assert "(s)" not in text and "  " not in text and ".." not in text
    assert (
        f"The kept model is epoch {c['kept']}" in text or f"kept model, epoch {c['kept']}" in text
    )
    if c["collapsed_epochs"]:
        verdict = "collapsed" if c["final_collapsed"] else "not collapsed"
        assert f"counts there as {verdict}" in text
    else:
        assert "no collapse by that threshold" in text and "counts there" not in text
    low, high = min(h["val_fgsm"] for h in history), max(h["val_fgsm"] for h in history)
    assert f"between {low:.1f}% and {low:.1f}%" not in text or low != high


def test_describe_history_says_what_the_chapter_run_did():
    text = collapse.describe_history(CHAPTER_RUN, pgd_steps=20)
    assert "epochs 1 to 4 of 10" in text and "between 93.1% and 99.8%" in text
    assert "signature of catastrophic overfitting" in text
    assert "from epoch 5 on" in text and "epoch 8 (90.3%), after the collapse" in text
    assert "collapsed and recovered" in text
    assert "counts there as not collapsed" in text
    one = collapse.describe_history(_history([30.0], kept=1), pgd_steps=5)
    assert "the only epoch" in one and "every one" not in one
    last = collapse.describe_history(CASES["recovered in the last epoch"], pgd_steps=20)
    assert "in the last epoch it was above the threshold again (85.0%)" in last
    with pytest.raises(ValueError, match="at least one epoch"):
        collapse.history_collapse([])


def test_describe_history_tells_a_model_that_never_learned_from_a_collapse():
    never = collapse.describe_history(CASES["never learned (quick mode)"], pgd_steps=5)
    assert "had not learned to resist even FGSM" in never and "is not catastrophic" in never
    assert "between 10.0% and 10.0%" not in never and "at most 10.0%" in never
    mixed = collapse.describe_history(CASES["not robust yet, then collapsed"], pgd_steps=20)
    assert collapse.history_collapse(CASES["not robust yet, then collapsed"])["overfit_epochs"] == [
        3
    ]
    assert "in epoch 3: the signature of catastrophic overfitting" in mixed
    assert "after the epochs below the threshold: the run fell below it and rose" in mixed
