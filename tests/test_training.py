"""Learning on real MNIST subsets, determinism, adversarial training's effect."""

import pytest
import torch

import fgsm_helpers as fh


@pytest.mark.slow
def test_learns_mnist_subset(trained_cnn, mnist_test):
    x, y = mnist_test
    assert fh.accuracy(trained_cnn, x[:2000], y[:2000]) >= 94.0


def _train_small(mnist_train, seed, **kwargs):
    fh.set_seed(seed)
    model = fh.PaperCNN()
    history = fh.train(
        model,
        mnist_train[0][:1024],
        mnist_train[1][:1024],
        epochs=1,
        batch_size=128,
        seed=seed,
        progress=False,
        **kwargs,
    )
    return model, history


@pytest.mark.slow
def test_same_seed_same_weights(mnist_train):
    first, history1 = _train_small(mnist_train, seed=5)
    second, history2 = _train_small(mnist_train, seed=5)
    other, _ = _train_small(mnist_train, seed=6)
    for (name, a), b in zip(first.state_dict().items(), second.state_dict().values()):
        assert torch.equal(a, b), name
    assert history1[0]["loss"] == history2[0]["loss"]
    assert not torch.equal(first.state_dict()["fc1.weight"], other.state_dict()["fc1.weight"])


@pytest.mark.slow
def test_adversarial_training_raises_fgsm_accuracy(mnist_train, mnist_test):
    x, y = mnist_train[0][:4000], mnist_train[1][:4000]
    x_test, y_test = mnist_test[0][:1000], mnist_test[1][:1000]
    results = {}
    for attack in (None, "fgsm"):
        fh.set_seed(0)
        model = fh.PaperCNN()
        history = fh.train(
            model, x, y, epochs=1, attack=attack, train_eps=0.3, seed=0, progress=False
        )
        results[attack] = fh.robustness_curve(model, x_test, y_test, [0.3])[0.3]
        if attack:
            assert "adv_accuracy" in history[0]
    assert results["fgsm"] > results[None] + 30, results


@pytest.mark.slow
def test_evaluation_epoch_changes_nothing(trained_cnn, mnist_test):
    before = {k: v.clone() for k, v in trained_cnn.state_dict().items()}
    x, y = mnist_test[0][:500], mnist_test[1][:500]
    stats = fh.run_epoch(trained_cnn, x, y, progress=False)
    assert stats["accuracy"] == pytest.approx(fh.accuracy(trained_cnn, x, y))
    assert stats["accuracy"] > 90  # the fixture's CNN has learned: a wrong count would show
    assert all(torch.equal(v, before[k]) for k, v in trained_cnn.state_dict().items())


@pytest.mark.slow
def test_keep_best_restores_best_epoch_and_checkpoints_each_epoch(mnist_train, tmp_path):
    scores = iter([3.0, 1.0])
    snapshots = []

    def validate(model):
        snapshots.append({k: v.clone() for k, v in model.state_dict().items()})
        return next(scores)

    fh.set_seed(0)
    model = fh.PaperCNN()
    path = tmp_path / "run.pt"
    history = fh.train(
        model,
        mnist_train[0][:512],
        mnist_train[1][:512],
        epochs=2,
        seed=0,
        validate=validate,
        keep_best=True,
        checkpoint_path=path,
        progress=False,
    )
    assert [h["val_score"] for h in history] == [3.0, 1.0]
    assert all(torch.equal(v, snapshots[0][k]) for k, v in model.state_dict().items())
    _, meta = fh.load_checkpoint(path)
    assert meta["epochs"] == 2 and len(meta["history"]) == 2


@pytest.mark.slow
@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"epochs": 0}, "epochs"),
        ({"lr": -1.0}, "lr"),
        ({"attack": "cw"}, "attack"),
        ({"attack": "fgsm", "train_eps": -0.3}, "eps"),
        ({"keep_best": True}, "validate"),
        ({"schedule": "cosine"}, "schedule"),
    ],
)
def test_bad_training_arguments(mnist_train, kwargs, match):
    with pytest.raises(ValueError, match=match):
        fh.train(fh.PaperCNN(), mnist_train[0][:64], mnist_train[1][:64], progress=False, **kwargs)


@pytest.mark.slow
def test_eps_ramp_and_alpha_ratio_reach_the_attack(mnist_train):
    seen = []

    def recording_attack(model, x, y, eps, alpha=None):
        seen.append((eps, alpha))
        return x.clone()

    fh.train(
        fh.SmallCNN(),
        mnist_train[0][:1000],
        mnist_train[1][:1000],
        epochs=2,
        batch_size=100,
        attack=recording_attack,
        train_eps=0.3,
        eps_ramp_epochs=1.0,
        adv_weight=1.0,
        attack_kwargs={"alpha_ratio": 0.5},
        progress=False,
    )
    eps_values = [eps for eps, _ in seen]
    assert len(seen) == 20
    assert eps_values[0] == pytest.approx(0.03) and eps_values[9] == pytest.approx(0.3)
    assert all(a <= b for a, b in zip(eps_values, eps_values[1:]))
    assert all(eps == pytest.approx(0.3) for eps in eps_values[10:])
    assert all(alpha == pytest.approx(0.5 * eps) for eps, alpha in seen)


@pytest.mark.slow
def test_pgd_training_runs_and_reports_adversarial_accuracy(mnist_train):
    history = fh.train(
        fh.SmallCNN(),
        mnist_train[0][:500],
        mnist_train[1][:500],
        epochs=1,
        batch_size=100,
        attack="pgd",
        train_eps=0.3,
        adv_weight=1.0,
        attack_kwargs={"steps": 2, "alpha_ratio": 0.5},
        progress=False,
    )
    assert "adv_accuracy" in history[0] and "accuracy" not in history[0]


def _one_fgsm_epoch(model, x, y, attack, optimizer_cls=torch.optim.SGD):
    optimizer = optimizer_cls(model.parameters(), lr=0.05)
    return fh.run_epoch(
        model,
        x,
        y,
        optimizer=optimizer,
        attack=attack,
        batch_size=64,
        generator=torch.Generator().manual_seed(0),
        progress=False,
    )


@pytest.mark.slow
@pytest.mark.parametrize("architecture", ["PaperCNN", "SmallCNN"])
def test_shared_pass_fgsm_training_equals_the_general_path(mnist_train, architecture):
    """The paper's FGSM training takes its FGSM gradient from the clean backward pass; the
    weights and statistics must equal the plain attack-then-train path."""
    x, y = mnist_train[0][:256], mnist_train[1][:256]
    torch.manual_seed(3)
    shared = fh.build_model(architecture)
    general = fh.build_model(architecture)
    general.load_state_dict(shared.state_dict())
    assert fh.training.same_in_train_and_eval(shared)
    attack = fh.training.make_training_attack("fgsm", 0.2)
    assert isinstance(attack, fh.training.FGSMTrainingAttack)
    stats_shared = _one_fgsm_epoch(shared, x, y, attack)
    stats_general = _one_fgsm_epoch(general, x, y, lambda m, xb, yb: fh.fgsm(m, xb, yb, 0.2))
    for (name, a), b in zip(shared.state_dict().items(), general.state_dict().values()):
        assert torch.allclose(a, b, rtol=1e-4, atol=1e-6), name
    assert stats_shared["accuracy"] == stats_general["accuracy"]
    assert stats_shared["adv_accuracy"] == stats_general["adv_accuracy"]
    assert stats_shared["loss"] == pytest.approx(stats_general["loss"], rel=1e-5)


def test_shared_pass_is_not_used_for_dropout_models():
    model = torch.nn.Sequential(
        fh.models.Normalize(), torch.nn.Flatten(), torch.nn.Dropout(0.5), torch.nn.Linear(784, 10)
    )
    assert not fh.training.same_in_train_and_eval(model)
    assert fh.training.same_in_train_and_eval(fh.PaperCNN())
    assert fh.training.same_in_train_and_eval(fh.WideCNN())
