import pytest
import torch
from torch import nn

import fgsm_helpers as fh


def test_paper_cnn_is_the_papers_network():
    model = fh.PaperCNN()
    assert fh.count_parameters(model) == 4_738_826
    layers = [m for m in model if not isinstance(m, (nn.ReLU, nn.Flatten))]
    assert isinstance(layers[0], fh.models.Normalize)
    conv1, conv2, fc1, fc2 = layers[1:]
    assert (conv1.in_channels, conv1.out_channels, conv1.kernel_size) == (1, 32, (3, 3))
    assert (conv2.in_channels, conv2.out_channels, conv2.kernel_size) == (32, 64, (3, 3))
    assert (fc1.in_features, fc1.out_features) == (64 * 24 * 24, 128)
    assert (fc2.in_features, fc2.out_features) == (128, 10)


def test_normalization_is_the_first_operation():
    model = fh.PaperCNN()
    x = torch.rand(3, 1, 28, 28)
    manual = nn.Sequential(*list(model)[1:])((x - 0.1307) / 0.3081)
    assert torch.allclose(model(x), manual)


@pytest.mark.parametrize("name", ["PaperCNN", "SmallCNN", "WideCNN"])
def test_every_architecture_maps_mnist_to_ten_logits(name):
    assert fh.build_model(name)(torch.rand(2, 1, 28, 28)).shape == (2, 10)


def test_unknown_architecture():
    with pytest.raises(ValueError, match="architecture"):
        fh.build_model("ResNet")
