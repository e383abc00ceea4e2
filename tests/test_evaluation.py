import pytest
import torch

import fgsm_helpers as fh

EPS = [0.0, 0.05, 0.1, 0.2, 0.3, 0.5, 0.8]


@pytest.mark.slow
def test_gradient_reusing_sweep_equals_per_eps_recomputation(trained_cnn, mnist_test):
    x, y = mnist_test[0][:600], mnist_test[1][:600]
    curve = fh.robustness_curve(trained_cnn, x, y, EPS, batch_size=250)
    for eps in EPS:
        x_adv = torch.cat(
            [fh.fgsm(trained_cnn, x[i : i + 250], y[i : i + 250], eps) for i in range(0, 600, 250)]
        )
        assert curve[eps] == fh.accuracy(trained_cnn, x_adv, y), eps


@pytest.mark.slow
def test_sweep_at_eps_zero_is_clean_accuracy(trained_cnn, mnist_test):
    x, y = mnist_test[0][:500], mnist_test[1][:500]
    assert fh.robustness_curve(trained_cnn, x, y, [0.0])[0.0] == fh.accuracy(trained_cnn, x, y)


@pytest.mark.slow
def test_robust_accuracy_not_above_clean(trained_cnn, mnist_test):
    x, y = mnist_test[0][:500], mnist_test[1][:500]
    clean = fh.accuracy(trained_cnn, x, y)
    for attack in ("fgsm", "pgd"):
        curve = fh.robustness_curve(
            trained_cnn,
            x,
            y,
            [0.1, 0.3],
            attack=attack,
            **({"steps": 10} if attack == "pgd" else {}),
        )
        assert all(value <= clean for value in curve.values())


@pytest.mark.slow
def test_callable_attack_and_normalized_units(trained_cnn, mnist_test):
    x, y = mnist_test[0][:300], mnist_test[1][:300]
    by_name = fh.robustness_curve(trained_cnn, x, y, [0.3], eps_units="normalized")
    by_callable = fh.robustness_curve(trained_cnn, x, y, [0.3 * fh.MNIST_STD], attack=fh.fgsm)
    assert by_name[0.3] == by_callable[0.3 * fh.MNIST_STD]


@pytest.mark.slow
def test_bad_sweep_arguments(trained_cnn, mnist_test):
    x, y = mnist_test[0][:10], mnist_test[1][:10]
    with pytest.raises(ValueError, match="eps_list"):
        fh.robustness_curve(trained_cnn, x, y, [])
    with pytest.raises(ValueError, match="attack"):
        fh.robustness_curve(trained_cnn, x, y, [0.1], attack="cw")
    with pytest.raises(ValueError, match="eps"):
        fh.robustness_curve(trained_cnn, x, y, [0.1, -0.2])


@pytest.mark.slow
def test_predicted_labels_sweep_equals_fgsm_with_predictions(trained_cnn, mnist_test):
    x, y = mnist_test[0][:300], mnist_test[1][:300]
    curve = fh.robustness_curve(trained_cnn, x, y, [0.2], labels="predicted")
    x_adv = fh.fgsm(trained_cnn, x, None, 0.2)
    assert curve[0.2] == fh.accuracy(trained_cnn, x_adv, y)
    with pytest.raises(ValueError, match="labels"):
        fh.robustness_curve(trained_cnn, x, y, [0.2], labels="guessed")


@pytest.mark.slow
def test_flip_matrix_counts_every_image(trained_cnn, mnist_test):
    x, y = mnist_test[0][:300], mnist_test[1][:300]
    matrix = fh.evaluation.flip_matrix(trained_cnn, fh.fgsm(trained_cnn, x, y, 0.2), y)
    assert matrix.shape == (10, 10) and matrix.sum() == 300
    assert torch.equal(matrix.sum(dim=1), torch.bincount(y, minlength=10))


@pytest.mark.slow
def test_transfer_to_itself_equals_white_box(trained_cnn, mnist_test):
    x, y = mnist_test[0][:300], mnist_test[1][:300]
    assert fh.evaluation.transfer_accuracy(
        trained_cnn, trained_cnn, x, y, [0.1, 0.3]
    ) == fh.robustness_curve(trained_cnn, x, y, [0.1, 0.3])
