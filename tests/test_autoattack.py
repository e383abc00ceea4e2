"""AutoAttack wrapper (``fh.evaluation.autoattack``): never weaker than PGD, a report that
adds up, the same result as torchattacks' own ``AutoAttack``, and clear errors."""

import pytest
import torch
import torchattacks

import fgsm_helpers as fh
from fgsm_helpers.evaluation import autoattack

# At eps 0.1 the one-epoch CNN of the fixtures keeps part of its accuracy under PGD, so the
# comparison with PGD is not 0 against 0.
EPS = 0.1
N_IMAGES = 20


@pytest.fixture(scope="module")
def images(mnist_test):
    return mnist_test[0][:N_IMAGES], mnist_test[1][:N_IMAGES]


@pytest.fixture(scope="module")
def cheap_result(trained_cnn, images):
    """AutoAttack with torchattacks' 10 iterations per attack: a few seconds on 20 images."""
    x, y = images
    return autoattack(trained_cnn, x, y, EPS, steps=None, batch_size=N_IMAGES, progress=False)


@pytest.mark.slow
def test_never_weaker_than_pgd(trained_cnn, images, cheap_result):
    x, y = images
    pgd_robust = fh.evaluation.pgd_accuracy(trained_cnn, x, y, EPS, steps=50, alpha=0.01)
    assert 0 < pgd_robust < fh.accuracy(trained_cnn, x, y)  # the comparison means something
    assert cheap_result.accuracy <= pgd_robust


@pytest.mark.slow
def test_report_adds_up(trained_cnn, images, cheap_result):
    x, y = images
    result = cheap_result
    assert result.n_images == N_IMAGES
    assert result.attacks == ("apgd-ce", "apgd-t", "fab-t", "square")
    assert list(result.counts) == ["clean", *result.attacks, "robust"]
    assert sum(result.counts.values()) == N_IMAGES
    for name, count in result.counts.items():
        assert result.broken_by.count(None if name == "robust" else name) == count, name
    assert result.clean_accuracy == fh.accuracy(trained_cnn, x, y)
    assert result.accuracy == 100.0 * result.counts["robust"] / N_IMAGES
    assert result.counts["apgd-ce"] > 0  # the first attack breaks most of what falls


@pytest.mark.slow
def test_adversarial_images_are_valid_and_match_the_report(trained_cnn, images, cheap_result):
    x, y = images
    x_adv = cheap_result.x_adv
    assert x_adv.shape == x.shape
    assert (x_adv - x).abs().max().item() <= EPS + 1e-6
    assert x_adv.min().item() >= 0.0 and x_adv.max().item() <= 1.0
    correct = fh.predict(trained_cnn, x_adv) == y
    for index, label in enumerate(cheap_result.broken_by):
        assert bool(correct[index]) == (label is None), (index, label)
        if label in (None, "clean"):
            assert torch.equal(x_adv[index], x[index])


@pytest.mark.slow
def test_same_result_as_torchattacks_autoattack(trained_cnn, images, cheap_result):
    x, y = images
    reference = torchattacks.AutoAttack(
        trained_cnn, norm="Linf", eps=EPS, version="standard", n_classes=10, seed=0
    )
    x_reference = reference(x, y)  # one batch, as in the wrapper
    assert cheap_result.accuracy == fh.accuracy(trained_cnn, x_reference, y)
    assert torch.equal(cheap_result.x_adv, x_reference)


@pytest.mark.slow
def test_leaves_model_and_random_state_alone(trained_cnn, images):
    x, y = images
    trained_cnn.train()
    for parameter in trained_cnn.parameters():
        parameter.grad = None  # training leaves the last batch's gradients behind
    rng_before = torch.get_rng_state()
    autoattack(trained_cnn, x[:5], y[:5], 0.3, steps=2, progress=False)
    assert torch.equal(torch.get_rng_state(), rng_before)
    assert trained_cnn.training
    assert all(p.requires_grad and p.grad is None for p in trained_cnn.parameters())
    trained_cnn.eval()


@pytest.mark.slow
def test_eps_zero_is_clean_accuracy(trained_cnn, images):
    x, y = images
    result = autoattack(trained_cnn, x, y, 0.0, progress=False)
    assert result.accuracy == result.clean_accuracy == fh.accuracy(trained_cnn, x, y)
    assert result.attacks == () and torch.equal(result.x_adv, x)
    assert set(result.broken_by) <= {"clean", None}


@pytest.mark.slow
def test_record_for_results_json(cheap_result, tmp_path):
    record = cheap_result.record("baseline")
    assert record["attack"] == "autoattack" and record["version"] == "standard"
    assert record["n_images"] == N_IMAGES and record["eps"] == EPS
    assert record["eps_units"] == "pixel" and record["steps"] == 10
    assert record["broken_by"] == cheap_result.counts
    assert record["implementation"].startswith("torchattacks ")
    path = tmp_path / "results.json"
    plus = {**record, "version": "plus", "accuracy": 0.0}
    data = fh.results.add_records(path, [record, plus])
    assert len(fh.results.find(data, attack="autoattack")) == 2  # versions kept apart


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"eps": -0.1}, "eps must be a finite number >= 0"),
        ({"eps": 1.5}, "larger than the whole pixel range"),
        ({"version": "fast"}, "version must be one of"),
        ({"steps": 0}, "steps must be a positive integer"),
        ({"batch_size": 0}, "batch_size must be a positive integer"),
        ({"x": torch.rand(4, 28, 28)}, r"shape \(N, C, H, W\)"),
        ({"x": torch.rand(4, 1, 28, 28) * 255}, r"pixel values in \[0, 1\]"),
        ({"y": torch.tensor([1, 2, 3])}, "one label per image"),
        ({"y": torch.tensor([1, 2, 3, 10])}, r"class indices in 0\.\.9"),
    ],
)
def test_bad_input_refused(random_cnn, change, message):
    arguments = {"x": torch.rand(4, 1, 28, 28), "y": torch.tensor([1, 2, 3, 4]), "eps": 0.3}
    arguments.update(change)
    x, y, eps = arguments.pop("x"), arguments.pop("y"), arguments.pop("eps")
    with pytest.raises(ValueError, match=message):
        autoattack(random_cnn, x, y, eps, progress=False, **arguments)


@pytest.mark.slow
def test_standard_settings_never_weaker_than_pgd(trained_cnn, images):
    """The reference's 100 iterations per attack (the default), against the same images."""
    x, y = images
    result = autoattack(trained_cnn, x, y, EPS, batch_size=N_IMAGES, progress=False)
    assert result.steps == 100
    assert result.accuracy <= fh.evaluation.pgd_accuracy(trained_cnn, x, y, EPS, steps=100)
    assert (result.x_adv - x).abs().max().item() <= EPS + 1e-6
