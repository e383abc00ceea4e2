"""MNIST as in-memory tensors: offline-first loading, checksum verification, batching."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import torch

from ._env import DATA_DIR_ENV
from .models import MNIST_MEAN, MNIST_STD  # noqa: F401 (fh.MNIST_MEAN and fh.MNIST_STD live here)

# MD5 sums of the uncompressed original files (the published ones are of the .gz archives).
MNIST_MD5 = {
    "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
    "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
    "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
    "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
}
_SPLIT_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
_VERIFIED: dict[tuple[str, int, int], bool] = {}
_CACHE: dict[tuple[str, str], tuple[torch.Tensor, torch.Tensor]] = {}


class MNISTDataError(RuntimeError):
    """The MNIST files are missing, unreadable or do not match their checksums."""


def default_data_dir() -> Path:
    """The per-user cache folder used when neither ``data_dir`` nor ``$FGSM_DATA_DIR`` is set.

    ``$XDG_CACHE_HOME/fgsm_helpers`` when ``XDG_CACHE_HOME`` is an absolute path (the XDG rule),
    else ``~/.cache/fgsm_helpers``. It is absolute, so it does not depend on the folder a kernel
    starts in, and it lies outside any source tree, so a download never lands in a clone.

    >>> default_data_dir()          # e.g. PosixPath('/home/student/.cache/fgsm_helpers')
    """
    cache_home = os.environ.get("XDG_CACHE_HOME", "")
    base = Path(cache_home) if os.path.isabs(cache_home) else Path.home() / ".cache"
    return base / "fgsm_helpers"


def resolve_data_dir(data_dir: str | os.PathLike | None = None) -> Path:
    """The data directory, absolute: the argument, else ``$FGSM_DATA_DIR``, else
    :func:`default_data_dir` (``~/.cache/fgsm_helpers``).

    A relative argument or ``$FGSM_DATA_DIR`` is taken from the current working directory.

    >>> resolve_data_dir("../shared/data")     # e.g. PosixPath('/work/shared/data')
    """
    if data_dir is None or str(data_dir) == "":
        data_dir = os.environ.get(DATA_DIR_ENV) or default_data_dir()
    return Path(data_dir).expanduser().resolve()


def _md5(path: Path) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify_mnist_files(data_dir: str | os.PathLike | None = None, split: str = "both") -> None:
    """Check the raw MNIST files of ``split`` against the MD5 sums of the originals.

    Raises ``MNISTDataError`` naming each missing or mismatching file.
    """
    raw = resolve_data_dir(data_dir) / "MNIST" / "raw"
    names = MNIST_MD5 if split == "both" else dict.fromkeys(_SPLIT_FILES[split])
    problems = []
    for name in names:
        path = raw / name
        if not path.is_file():
            problems.append(f"missing: {path}")
            continue
        stat = path.stat()
        key = (str(path), stat.st_size, stat.st_mtime_ns)
        if _VERIFIED.get(key):
            continue
        actual = _md5(path)
        if actual != MNIST_MD5[name]:
            problems.append(
                f"corrupt: {path} has MD5 {actual}, expected {MNIST_MD5[name]} "
                "(delete it to download it again, or restore the original file)"
            )
        else:
            _VERIFIED[key] = True
    if problems:
        raise MNISTDataError("MNIST files failed verification:\n  " + "\n  ".join(problems))


def _missing_files(root: Path, split: str) -> list[Path]:
    return [
        root / "MNIST" / "raw" / name
        for name in _SPLIT_FILES[split]
        if not (root / "MNIST" / "raw" / name).is_file()
    ]


def load_mnist(
    split: str = "test",
    data_dir: str | os.PathLike | None = None,
    *,
    device: str | torch.device = "cpu",
    subset: int | None = None,
    seed: int = 0,
    download: bool = False,
    verify: bool = True,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Load an MNIST split as tensors: images (N, 1, 28, 28) float32 in [0, 1], labels (N,) int64.

    ``data_dir``: the folder holding ``MNIST/raw/*-ubyte`` (argument, else ``$FGSM_DATA_DIR``,
    else the per-user cache ``~/.cache/fgsm_helpers``, see :func:`default_data_dir`).
    ``download=True`` fetches the files only when they are missing.
    ``subset=n`` returns ``n`` images drawn without replacement with ``seed``.

    >>> x_test, y_test = load_mnist("test", "../shared/data")
    >>> x_test.shape, y_test[:3].tolist()      # (torch.Size([10000, 1, 28, 28]), [7, 2, 1])
    """
    if split not in _SPLIT_FILES:
        raise ValueError(f"split must be 'train' or 'test'; got {split!r}")
    if subset is not None and (
        isinstance(subset, bool) or not isinstance(subset, int) or subset < 1
    ):
        raise ValueError(f"subset must be a positive integer or None; got {subset!r}")
    root = resolve_data_dir(data_dir)
    missing = _missing_files(root, split)
    if missing:
        if not download:
            raise MNISTDataError(
                f"MNIST {split} files not found under {root}. Expected:\n  "
                + "\n  ".join(str(path) for path in missing)
                + f"\nPoint {DATA_DIR_ENV} (or data_dir=) at a folder holding MNIST/raw/*-ubyte, "
                "or pass download=True where the network is available."
            )
        _download(root)
    if verify:
        verify_mnist_files(root, split)
    key = (str(root), split)
    if key not in _CACHE:
        import torchvision  # imported here: it is slow to import and only data loading needs it

        dataset = torchvision.datasets.MNIST(str(root), train=(split == "train"), download=False)
        _CACHE[key] = (dataset.data.unsqueeze(1).contiguous(), dataset.targets.long())
    images_u8, labels = _CACHE[key]
    if subset is not None:
        if subset > len(labels):
            raise ValueError(
                f"subset={subset} is larger than the {split} split ({len(labels)} images)"
            )
        generator = torch.Generator().manual_seed(seed)
        index = torch.randperm(len(labels), generator=generator)[:subset]
        images_u8, labels = images_u8[index], labels[index]
    images = images_u8.to(device=device, dtype=torch.float32).div_(255.0)
    return images, labels.to(device)


def _download(root: Path) -> None:
    import torchvision

    try:
        for train in (True, False):
            torchvision.datasets.MNIST(str(root), train=train, download=True)
    except Exception as err:  # network errors come in many types; all mean the same here
        raise MNISTDataError(
            f"MNIST could not be downloaded into {root} ({type(err).__name__}: {err}). "
            f"Without a network, set {DATA_DIR_ENV} to a folder holding MNIST/raw/ with "
            + ", ".join(MNIST_MD5)
        ) from err


def iterate_batches(
    x: torch.Tensor,
    y: torch.Tensor,
    batch_size: int,
    *,
    shuffle: bool = False,
    generator: torch.Generator | None = None,
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Yield ``(x, y)`` batches as slices of in-memory tensors (shuffled with ``generator``)."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer; got {batch_size!r}")
    if shuffle:
        order = torch.randperm(len(x), generator=generator).to(x.device)
        for start in range(0, len(x), batch_size):
            index = order[start : start + batch_size]
            yield x[index], y[index]
    else:
        for start in range(0, len(x), batch_size):
            yield x[start : start + batch_size], y[start : start + batch_size]


def num_batches(n: int, batch_size: int) -> int:
    return (n + batch_size - 1) // batch_size
