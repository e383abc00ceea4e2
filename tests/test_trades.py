"""TRADES (its inner maximization and its training loss) and weight averaging in ``fh.train``."""

import pytest
import torch
import torch.nn.functional as F

import fgsm_helpers as fh

EPS = 0.1


@pytest.fixture(scope="module")
def images(mnist_test):
    return mnist_test[0][:40], mnist_test[1][:40]


@pytest.mark.slow
def test_trades_adversary_stays_in_the_ball_and_raises_the_divergence(trained_cnn, images):
    x, _ = images
    x_adv = fh.trades_adversary(
        trained_cnn, x, EPS, steps=5, generator=torch.Generator().manual_seed(0)
    )
    assert (x_adv - x).abs().max() <= EPS + 1e-6
    assert x_adv.min() >= 0 and x_adv.max() <= 1

    def divergence(x_moved):
        with torch.no_grad():
            return F.kl_div(
                F.log_softmax(trained_cnn(x_moved), 1),
                F.log_softmax(trained_cnn(x), 1),
                reduction="batchmean",
                log_target=True,
            ).item()

    random = (x + EPS * (2 * torch.rand_like(x) - 1)).clamp(0, 1)
    assert divergence(x_adv) > 2 * divergence(random)
    assert torch.equal(fh.trades_adversary(trained_cnn, x, 0.0), x)
    with pytest.raises(ValueError, match="steps"):
        fh.trades_adversary(trained_cnn, x, EPS, steps=0)


@pytest.mark.slow
def test_trades_training_learns_and_reports_both_accuracies(mnist_train, mnist_test):
    fh.set_seed(0)
    model = fh.SmallCNN()
    history = fh.train(
        model,
        mnist_train[0][:3000],
        mnist_train[1][:3000],
        epochs=2,
        batch_size=100,
        attack="trades",
        train_eps=0.1,
        eps_ramp_epochs=1.0,
        attack_kwargs={"steps": 2, "alpha_ratio": 0.5, "beta": 6.0},
        progress=False,
    )
    assert {"accuracy", "adv_accuracy"} <= set(history[-1])
    assert fh.accuracy(model, *[t[:1000] for t in mnist_test]) > 80
    with pytest.raises(ValueError, match="beta"):
        fh.train(
            fh.SmallCNN(),
            mnist_train[0][:100],
            mnist_train[1][:100],
            attack="trades",
            attack_kwargs={"beta": -1.0},
            progress=False,
        )


def test_weight_average_follows_its_formula_and_swaps_back():
    from fgsm_helpers.training import _WeightAverage

    model = torch.nn.Linear(3, 2)
    w0 = model.weight.detach().clone()
    average = _WeightAverage(model, 0.5)
    w1 = torch.randn_like(w0)
    with torch.no_grad():
        model.weight.copy_(w1)
    average.update()
    decay = min(0.5, 2 / 11)  # the warm-up: (1 + t) / (10 + t) for t = 1
    expected = w0 + (1 - decay) * (w1 - w0)
    average.swap()
    assert torch.allclose(model.weight, expected)
    average.swap()
    assert torch.equal(model.weight, w1)


@pytest.mark.slow
def test_training_with_weight_average_returns_the_average(mnist_train):
    x, y = mnist_train[0][:500], mnist_train[1][:500]
    seen = []

    def validate(model):
        seen.append([p.detach().clone() for p in model.parameters()])
        return 0.0

    runs = {}
    for decay in (None, 0.9):
        fh.set_seed(0)
        model = fh.SmallCNN()
        fh.train(
            model,
            x,
            y,
            epochs=2,
            batch_size=100,
            weight_average=decay,
            validate=validate,
            progress=False,
        )
        runs[decay] = [p.detach().clone() for p in model.parameters()]
        # what the held-out check saw after the last epoch is what the model holds
        assert all(torch.equal(a, b) for a, b in zip(seen[-1], runs[decay]))
    assert not all(torch.equal(a, b) for a, b in zip(runs[None], runs[0.9]))
    with pytest.raises(ValueError, match="weight_average"):
        fh.train(fh.SmallCNN(), x, y, weight_average=1.0, progress=False)
