import pytest
import torch

import fgsm_helpers as fh


def test_paper_cnn_is_the_papers_network():
    model = fh.PaperCNN()
    assert fh.count_parameters(model) == 4_738_826
    assert (model.conv1.in_channels, model.conv1.out_channels, model.conv1.kernel_size) == (
        1,
        32,
        (3, 3),
    )
    assert (model.conv2.in_channels, model.conv2.out_channels, model.conv2.kernel_size) == (
        32,
        64,
        (3, 3),
    )
    assert (model.fc1.in_features, model.fc1.out_features) == (64 * 24 * 24, 128)
    assert (model.fc2.in_features, model.fc2.out_features) == (128, 10)
    assert model.conv1.padding == (0, 0) and model.conv2.padding == (0, 0)


def test_normalization_is_the_first_operation():
    model = fh.PaperCNN()
    x = torch.rand(3, 1, 28, 28)
    z = (x - 0.1307) / 0.3081
    z = torch.relu(model.conv2(torch.relu(model.conv1(z))))
    manual = model.fc2(torch.relu(model.fc1(z.flatten(1))))
    assert torch.allclose(model(x), manual)


@pytest.mark.parametrize("name", ["PaperCNN", "SmallCNN", "WideCNN"])
def test_every_architecture_maps_mnist_to_ten_logits(name):
    assert fh.build_model(name)(torch.rand(2, 1, 28, 28)).shape == (2, 10)


def test_unknown_architecture():
    with pytest.raises(ValueError, match="architecture"):
        fh.build_model("ResNet")
