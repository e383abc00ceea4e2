"""Chapter 06's evaluation checks (``fh.robustness``)."""

import pytest
import torch
import torch.nn.functional as F

import fgsm_helpers as fh
from fgsm_helpers import robustness

EPS = 0.1


@pytest.fixture(scope="module")
def images(mnist_test):
    return mnist_test[0][:40], mnist_test[1][:40]


@pytest.mark.slow
def test_pgd_strength_reports_every_setting_and_more_restarts_never_help(trained_cnn, images):
    x, y = images
    result = robustness.pgd_strength(
        trained_cnn, x, y, EPS, steps=(5, 20), restarts=(1, 3), restart_steps=10, progress=False
    )
    assert set(result["steps"]) == {5, 20} and set(result["restarts"]) == {1, 3}
    clean = fh.accuracy(trained_cnn, x, y)
    for value in [*result["steps"].values(), *result["restarts"].values()]:
        assert 0.0 <= value <= clean
    # restarts keep each image's worst case over the same first start: never higher
    assert result["restarts"][3] <= result["restarts"][1]
    assert result["restarts"][1] == fh.evaluation.pgd_accuracy(
        trained_cnn, x, y, EPS, steps=10, seed=0
    )


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"steps": ()}, "at least one"),
        ({"restarts": (0,)}, "restarts"),
        ({"restart_steps": 0}, "restart_steps"),
    ],
)
def test_pgd_strength_refuses_bad_counts(random_cnn, tiny_batch, kwargs, match):
    with pytest.raises(ValueError, match=match):
        robustness.pgd_strength(random_cnn, *tiny_batch, EPS, progress=False, **kwargs)


@pytest.mark.slow
def test_square_attack_lowers_accuracy_and_is_seeded(trained_cnn, images):
    x, y = images
    clean = fh.accuracy(trained_cnn, x, y)
    first = robustness.square_accuracy(trained_cnn, x, y, 0.2, queries=50, progress=False)
    again = robustness.square_accuracy(trained_cnn, x, y, 0.2, queries=50, progress=False)
    assert first == again
    assert first < clean
    assert robustness.square_accuracy(trained_cnn, x, y, 0.0, progress=False) == clean


def test_square_attack_refuses_bad_input(random_cnn, tiny_batch):
    x, y = tiny_batch
    with pytest.raises(ValueError, match="eps"):
        robustness.square_accuracy(random_cnn, x, y, 1.5, progress=False)
    with pytest.raises(ValueError):
        robustness.square_accuracy(random_cnn, x[0], y, 0.1, progress=False)
    with pytest.raises(ValueError, match="queries"):
        robustness.square_accuracy(random_cnn, x, y, 0.1, queries=0, progress=False)


def test_masking_signs():
    sound = robustness.masking_signs(fgsm=95, pgd=93, square=94, transfer=97, strongest=92.5)
    assert not any(sound.values())
    masked = robustness.masking_signs(fgsm=80, pgd=90, square=60, transfer=70, strongest=50)
    assert all(masked.values())
    assert "strongest_beats_pgd" not in robustness.masking_signs(
        fgsm=1, pgd=1, square=1, transfer=1
    )


@pytest.mark.slow
def test_loss_surface_shape_centre_and_gradient_direction(trained_cnn, images):
    x, y = images
    a, b, loss = robustness.loss_surface(trained_cnn, x[:10], y[:10], EPS, points=5)
    assert a.tolist() == pytest.approx([-EPS, -EPS / 2, 0, EPS / 2, EPS])
    assert loss.shape == (5, 5) and torch.isfinite(loss).all()
    with torch.no_grad():
        clean_loss = F.cross_entropy(trained_cnn(x[:10]), y[:10]).item()
    summary = robustness.surface_summary(a, loss)
    assert summary["at the image"] == pytest.approx(clean_loss, rel=1e-4)
    # on an undefended CNN a step along the gradient's sign raises the loss more than one against it
    assert summary["at the FGSM point"] > loss[0, 2].item()
    assert summary["highest in the ball"] >= summary["at the FGSM point"]
    # the square's corners lie outside the eps ball: the summary leaves them out
    corner_only = loss.clone()
    corner_only[-1, -1] = 1e6
    assert robustness.surface_summary(a, corner_only)["highest in the ball"] < 1e6
    with pytest.raises(ValueError, match="points"):
        robustness.loss_surface(trained_cnn, x, y, EPS, points=1)


def test_leaderboard_rows_are_consistent():
    for row in robustness.LEADERBOARD:
        assert row["autoattack"] <= row["reported"] <= row["clean"]
    values = [row["autoattack"] for row in robustness.LEADERBOARD]
    assert values == sorted(values, reverse=True)


@pytest.mark.slow
def test_step_versus_search(trained_cnn, images):
    x, y = images
    result = robustness.step_versus_search(trained_cnn, x, y, EPS, steps=10)
    x_fgsm = fh.fgsm(trained_cnn, x, y, EPS)
    with torch.no_grad():
        one_step = F.cross_entropy(trained_cnn(x_fgsm), y).item()
    assert result["fgsm"] == pytest.approx(one_step, rel=1e-5)
    assert result["pgd"] >= result["fgsm"]  # the search starts where one step cannot reach
    assert result["ratio"] == pytest.approx(result["pgd"] / result["fgsm"])


def test_leaderboard_holds_all_ten_entries_of_the_readme():
    board = {row["defence"].split(" (")[0]: row for row in robustness.LEADERBOARD}
    assert len(robustness.LEADERBOARD) == 10
    assert board["Ding et al. 2020"]["autoattack"] == 91.40
    assert board["Atzmon et al. 2019"]["autoattack"] == 90.85
    assert board["Jang et al. 2019"]["autoattack"] == 87.99
    assert board["Taghanaki et al. 2019"]["autoattack"] == 0.00
    assert board["Taghanaki et al. 2019"]["model"] == "retrained"
    for row in robustness.LEADERBOARD:
        assert row["model"] in ("available", "retrained")
        # two decimals on 10,000 images is a whole number of images: an interval exists
        fh.stats.accuracy_interval(row["autoattack"], robustness.LEADERBOARD_IMAGES)
