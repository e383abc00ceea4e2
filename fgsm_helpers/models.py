"""The paper's CNN and the other MNIST models of the series; each takes images in [0, 1]."""

from __future__ import annotations

import torch
from torch import nn

#: MNIST's pixel mean and standard deviation (training set): the models normalize with them.
MNIST_MEAN = 0.1307
MNIST_STD = 0.3081


class Normalize(nn.Module):
    """First layer of every model: ``(x - mean) / std``, so callers pass pixels in [0, 1]."""

    def __init__(self, mean: float = MNIST_MEAN, std: float = MNIST_STD) -> None:
        super().__init__()
        self.mean = mean
        self.std = std

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std

    def extra_repr(self) -> str:
        return f"mean={self.mean}, std={self.std}"


class PaperCNN(nn.Module):
    """The paper's network: Conv(1->32, 3x3)+ReLU, Conv(32->64, 3x3)+ReLU,
    Linear(64*24*24 -> 128)+ReLU, Linear(128 -> 10): 4,738,826 parameters, with MNIST
    normalization as its first operation (inputs are pixels in [0, 1]).

    >>> model = PaperCNN()
    >>> model(torch.rand(2, 1, 28, 28)).shape   # torch.Size([2, 10])
    """

    def __init__(self) -> None:
        super().__init__()
        self.normalize = Normalize()
        self.conv1 = nn.Conv2d(1, 32, kernel_size=3)
        self.conv2 = nn.Conv2d(32, 64, kernel_size=3)
        self.fc1 = nn.Linear(64 * 24 * 24, 128)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.normalize(x)
        x = torch.relu(self.conv1(x))
        x = torch.relu(self.conv2(x))
        x = torch.relu(self.fc1(x.flatten(1)))
        return self.fc2(x)


class SmallCNN(nn.Sequential):
    """Wong, Rice & Kolter's (2020) MNIST network: two stride-2 convolutions (16 and 32
    channels, 4x4 kernels), a 100-unit layer; 166,406 parameters."""

    def __init__(self) -> None:
        super().__init__(
            Normalize(),
            nn.Conv2d(1, 16, kernel_size=4, stride=2, padding=1),
            nn.ReLU(),
            nn.Conv2d(16, 32, kernel_size=4, stride=2, padding=1),
            nn.ReLU(),
            nn.Flatten(),
            nn.Linear(32 * 7 * 7, 100),
            nn.ReLU(),
            nn.Linear(100, 10),
        )


class WideCNN(nn.Sequential):
    """A wider stride-2 CNN for chapter 05's defence: 32 and 64 channels, a 256-unit layer."""

    def __init__(self) -> None:
        super().__init__(
            Normalize(),
            nn.Conv2d(1, 32, kernel_size=4, stride=2, padding=1),
            nn.ReLU(),
            nn.Conv2d(32, 64, kernel_size=4, stride=2, padding=1),
            nn.ReLU(),
            nn.Flatten(),
            nn.Linear(64 * 7 * 7, 256),
            nn.ReLU(),
            nn.Linear(256, 10),
        )


ARCHITECTURES: dict[str, type[nn.Module]] = {
    "PaperCNN": PaperCNN,
    "SmallCNN": SmallCNN,
    "WideCNN": WideCNN,
}


def build_model(architecture: str) -> nn.Module:
    """A fresh model of the named architecture (one of ``ARCHITECTURES``)."""
    if architecture not in ARCHITECTURES:
        raise ValueError(
            f"architecture must be one of {sorted(ARCHITECTURES)}; got {architecture!r}"
        )
    return ARCHITECTURES[architecture]()


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
