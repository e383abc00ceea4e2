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
