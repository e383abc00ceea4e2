"""Attack invariants, exact results on a tiny model, torchattacks agreement, bad inputs."""

import math

import pytest
import torch
from torch import nn

import fgsm_helpers as fh
from fgsm_helpers.attacks import _random_start

TOL = 1e-6  # x + eps rounds in float32; the ball holds up to one rounding step


def _assert_valid(x_adv, x, eps):
    assert not x_adv.requires_grad
    assert (x_adv - x).abs().max().item() <= eps + TOL
    assert x_adv.min().item() >= 0.0 and x_adv.max().item() <= 1.0


@pytest.mark.parametrize("eps", [0.05, 0.3, 0.8])
def test_fgsm_stays_in_ball_and_range(random_cnn, tiny_batch, eps):
    x, y = tiny_batch
    _assert_valid(fh.fgsm(random_cnn, x, y, eps), x, eps)


@pytest.mark.parametrize("eps", [0.05, 0.3])
def test_pgd_stays_in_ball_and_range(random_cnn, tiny_batch, eps):
    x, y = tiny_batch
    _assert_valid(fh.pgd(random_cnn, x, y, eps, steps=5, restarts=2), x, eps)


def test_random_start_stays_in_ball_and_range(tiny_batch):
    x, _ = tiny_batch
    start = _random_start(x, 0.3, torch.Generator().manual_seed(0))
    _assert_valid(start, x, 0.3)
    assert (start != x).float().mean() > 0.5


def test_fgsm_random_start_stays_in_ball(random_cnn, tiny_batch):
    x, y = tiny_batch
    _assert_valid(fh.fgsm_random_start(random_cnn, x, y, 0.3), x, 0.3)


@pytest.mark.parametrize("attack", ["fgsm", "pgd", "fgsm_random_start"])
def test_eps_zero_is_identity(random_cnn, tiny_batch, attack):
    x, y = tiny_batch
    x_adv = getattr(fh, attack)(random_cnn, x, y, 0.0)
    assert torch.equal(x_adv, x)


@pytest.mark.parametrize("mode", ["train", "eval"])
def test_attacks_leave_grads_and_mode_alone(tiny_batch, mode):
    x, y = tiny_batch
    torch.manual_seed(0)
    model = fh.PaperCNN()
    model.train(mode == "train")
    model.conv1.weight.grad = torch.ones_like(model.conv1.weight)
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    fh.fgsm(model, x, y, 0.1)
    fh.pgd(model, x, y, 0.1, steps=3)
    fh.robustness_curve(model, x, y, [0.1, 0.2])
    assert model.training == (mode == "train")
    assert all(m.training == (mode == "train") for m in model.modules())
    assert torch.equal(model.conv1.weight.grad, torch.ones_like(model.conv1.weight))
    assert all(p.grad is None for name, p in model.named_parameters() if name != "conv1.weight")
    assert all(torch.equal(p, before[name]) for name, p in model.named_parameters())


def test_fgsm_on_linear_model_equals_closed_form():
    """For logits = W x + b, d CE / d x = W^T (softmax(logits) - onehot(y))."""
    torch.manual_seed(1)
    model = nn.Sequential(nn.Flatten(), nn.Linear(4, 3))
    x = torch.rand(6, 1, 2, 2)
    y = torch.tensor([0, 1, 2, 0, 1, 2])
    weight, bias = model[1].weight.detach(), model[1].bias.detach()
    probs = torch.softmax(x.view(6, 4) @ weight.T + bias, dim=1)
    grad = (probs - nn.functional.one_hot(y, 3).float()) @ weight
    expected = (x + 0.1 * grad.sign().view(6, 1, 2, 2)).clamp(0, 1)
    assert torch.allclose(fh.fgsm(model, x, y, 0.1), expected, atol=1e-7)


def test_fgsm_uses_predicted_labels_when_none(random_cnn, tiny_batch):
    x, _ = tiny_batch
    predicted = fh.predict(random_cnn, x)
    assert torch.equal(fh.fgsm(random_cnn, x, None, 0.1), fh.fgsm(random_cnn, x, predicted, 0.1))


def test_normalized_units_scale_by_mnist_std(random_cnn, tiny_batch):
    x, y = tiny_batch
    a = fh.fgsm(random_cnn, x, y, 0.3, eps_units="normalized")
    b = fh.fgsm(random_cnn, x, y, 0.3 * fh.MNIST_STD)
    assert torch.equal(a, b)
    assert (a - x).abs().max().item() <= 0.3 * 0.3081 + TOL


@pytest.mark.slow
def test_fgsm_matches_torchattacks(trained_cnn, mnist_test):
    torchattacks = pytest.importorskip("torchattacks", reason="torchattacks is the cross-check")
    x, y = mnist_test[0][:500], mnist_test[1][:500]
    for eps in (0.1, 0.3):
        reference = torchattacks.FGSM(trained_cnn, eps=eps)(x, y)
        ours = fh.fgsm(trained_cnn, x, y, eps)
        assert torch.equal(ours, reference)


@pytest.mark.slow
def test_pgd_matches_torchattacks_without_random_start(trained_cnn, mnist_test):
    torchattacks = pytest.importorskip("torchattacks", reason="torchattacks is the cross-check")
    x, y = mnist_test[0][:200], mnist_test[1][:200]
    reference = torchattacks.PGD(trained_cnn, eps=0.2, alpha=0.02, steps=10, random_start=False)(
        x, y
    )
    ours = fh.pgd(trained_cnn, x, y, 0.2, alpha=0.02, steps=10, random_start=False)
    # torchattacks averages the loss over the batch, we sum it: the gradient signs agree except
    # where a gradient underflows, so all but a handful of pixels must be equal.
    assert (ours != reference).float().mean().item() < 1e-3


@pytest.mark.slow
def test_pgd_at_least_as_strong_as_fgsm(trained_cnn, mnist_test):
    x, y = mnist_test[0][:300], mnist_test[1][:300]
    for eps in (0.1, 0.2, 0.3):
        fgsm_acc = fh.accuracy(trained_cnn, fh.fgsm(trained_cnn, x, y, eps), y)
        pgd_acc = fh.accuracy(trained_cnn, fh.pgd(trained_cnn, x, y, eps, steps=10), y)
        assert pgd_acc <= fgsm_acc, (eps, pgd_acc, fgsm_acc)


@pytest.mark.slow
def test_restarts_keep_the_worst_case_per_image(trained_cnn, mnist_test):
    x, y = mnist_test[0][:200], mnist_test[1][:200]
    seed, restarts = 7, 3
    combined = fh.pgd(
        trained_cnn,
        x,
        y,
        0.15,
        steps=5,
        restarts=restarts,
        generator=torch.Generator().manual_seed(seed),
    )
    replay = torch.Generator().manual_seed(seed)  # the same random starts, one run at a time
    singles = [fh.pgd(trained_cnn, x, y, 0.15, steps=5, generator=replay) for _ in range(restarts)]
    wrong_any = torch.stack([fh.predict(trained_cnn, s) != y for s in singles]).any(dim=0)
    wrong_combined = fh.predict(trained_cnn, combined) != y
    assert torch.equal(wrong_combined, wrong_any)
    loss = nn.functional.cross_entropy
    with torch.no_grad():
        single_losses = torch.stack([loss(trained_cnn(s), y, reduction="none") for s in singles])
        combined_loss = loss(trained_cnn(combined), y, reduction="none")
    kept_right = ~wrong_any
    assert torch.allclose(combined_loss[kept_right], single_losses.max(dim=0).values[kept_right])


@pytest.mark.slow
def test_flat_gray_stays_in_ball_and_flattens_at_half(mnist_test):
    x = mnist_test[0][:100]
    for eps in (0.1, 0.3, 0.5):
        x_adv = fh.flat_gray_attack(x, eps)
        _assert_valid(x_adv, x, eps)
    assert torch.equal(fh.flat_gray_attack(x, 0.5), torch.full_like(x, 0.5))


@pytest.mark.slow
def test_accuracy_ceiling_from_labels(mnist_test):
    _, y = mnist_test
    assert fh.accuracy_ceiling(y) == pytest.approx(11.35)
    assert fh.accuracy_ceiling(torch.tensor([1, 1, 2, 3])) == 50.0


# ----------------------------------------------------------------------------- bad inputs
@pytest.mark.parametrize("attack", ["fgsm", "pgd", "fgsm_random_start"])
@pytest.mark.parametrize("eps", [-0.1, math.nan, math.inf, 1.5])
def test_bad_eps_is_refused(random_cnn, tiny_batch, attack, eps):
    x, y = tiny_batch
    x_before = x.clone()
    with pytest.raises(ValueError, match="eps"):
        getattr(fh, attack)(random_cnn, x, y, eps)
    assert torch.equal(x, x_before)


def test_normalized_eps_above_pixel_range_is_refused(random_cnn, tiny_batch):
    x, y = tiny_batch
    with pytest.raises(ValueError, match="eps"):
        fh.fgsm(random_cnn, x, y, 3.5, eps_units="normalized")
    with pytest.raises(ValueError, match="eps_units"):
        fh.fgsm(random_cnn, x, y, 0.1, eps_units="percent")


@pytest.mark.parametrize(
    "make_x, error, match",
    [
        (lambda x: x * 255, ValueError, r"\[0, 1\]"),
        (lambda x: x - 0.5, ValueError, r"\[0, 1\]"),
        (lambda x: x[:, 0], ValueError, "shape"),
        (lambda x: (x * 255).to(torch.uint8), TypeError, "floating-point"),
        (lambda x: x.numpy(), TypeError, "torch.Tensor"),
    ],
)
def test_bad_images_are_refused(random_cnn, tiny_batch, make_x, error, match):
    x, y = tiny_batch
    for attack in (fh.fgsm, fh.pgd):
        with pytest.raises(error, match=match):
            attack(random_cnn, make_x(x), y, 0.1)
    with pytest.raises(error, match=match):
        fh.robustness_curve(random_cnn, make_x(x), y, [0.1])


@pytest.mark.parametrize(
    "make_y, error, match",
    [
        (lambda y: y + 10, ValueError, r"0\.\.9"),
        (lambda y: y - 20, ValueError, r"0\.\.9"),
        (lambda y: y[:-1], ValueError, "one label per image"),
        (lambda y: y.float(), TypeError, "integer"),
    ],
)
def test_bad_labels_are_refused(random_cnn, tiny_batch, make_y, error, match):
    x, y = tiny_batch
    for call in (
        lambda yy: fh.fgsm(random_cnn, x, yy, 0.1),
        lambda yy: fh.pgd(random_cnn, x, yy, 0.1, steps=2),
        lambda yy: fh.accuracy(random_cnn, x, yy),
        lambda yy: fh.robustness_curve(random_cnn, x, yy, [0.1]),
    ):
        with pytest.raises(error, match=match):
            call(make_y(y))


@pytest.mark.parametrize(
    "kwargs, match",
    [({"steps": 0}, "steps"), ({"restarts": 0}, "restarts"), ({"alpha": -0.1}, "alpha")],
)
def test_bad_pgd_settings_are_refused(random_cnn, tiny_batch, kwargs, match):
    x, y = tiny_batch
    with pytest.raises(ValueError, match=match):
        fh.pgd(random_cnn, x, y, 0.1, **kwargs)


@pytest.mark.slow
def test_pgd_stop_early_is_never_weaker(trained_cnn, mnist_test):
    x, y = mnist_test[0][:200], mnist_test[1][:200]
    for eps, restarts in ((0.1, 1), (0.15, 3)):
        plain = fh.pgd(
            trained_cnn,
            x,
            y,
            eps,
            steps=10,
            restarts=restarts,
            generator=torch.Generator().manual_seed(1),
        )
        early = fh.pgd(
            trained_cnn,
            x,
            y,
            eps,
            steps=10,
            restarts=restarts,
            stop_early=True,
            generator=torch.Generator().manual_seed(1),
        )
        _assert_valid(early, x, eps)
        fooled_plain = fh.predict(trained_cnn, plain) != y
        fooled_early = fh.predict(trained_cnn, early) != y
        assert fooled_early.sum() >= fooled_plain.sum()
        assert (fooled_plain & ~fooled_early).sum() <= 1  # only float-rounding ties may differ


@pytest.mark.slow
def test_deepfool_finds_small_l2_perturbations(trained_cnn, mnist_test):
    x = mnist_test[0][:40]
    x_adv, fooled = fh.attacks.deepfool(trained_cnn, x)
    assert fooled.float().mean() > 0.9
    assert torch.equal(fooled, fh.predict(trained_cnn, x_adv) != fh.predict(trained_cnn, x))
    _assert_valid(x_adv, x, 1.0)
    sizes = (x_adv - x).flatten(1).norm(dim=1)[fooled]
    assert 0 < sizes.median() < 5  # minimal perturbations: far below a flat-gray image's distance


@pytest.mark.slow
def test_deepfool_agrees_with_torchattacks(trained_cnn, mnist_test):
    torchattacks = pytest.importorskip("torchattacks", reason="torchattacks is the cross-check")
    x = mnist_test[0][:10]
    labels = fh.predict(trained_cnn, x)
    reference = torchattacks.DeepFool(trained_cnn, steps=50, overshoot=0.02)(x, labels)
    ours, fooled = fh.attacks.deepfool(trained_cnn, x, steps=50, overshoot=0.02)
    ours_size = (ours - x).flatten(1).norm(dim=1)
    reference_size = (reference - x).flatten(1).norm(dim=1)
    # Same algorithm, different stopping detail: sizes agree to within a factor of 1.5 per image.
    assert torch.all(ours_size[fooled] <= 1.5 * reference_size[fooled] + 1e-3)
    assert torch.all(reference_size[fooled] <= 1.5 * ours_size[fooled] + 1e-3)


def test_bad_deepfool_settings(random_cnn, tiny_batch):
    x, _ = tiny_batch
    with pytest.raises(ValueError, match="steps"):
        fh.attacks.deepfool(random_cnn, x, steps=0)
    with pytest.raises(ValueError, match="overshoot"):
        fh.attacks.deepfool(random_cnn, x, overshoot=-1)
