"""Evaluating a defence (chapter 06): the checks of Carlini et al. 2019, "On evaluating
adversarial robustness", as plain functions.

- ``pgd_strength``: accuracy as PGD gets more steps and more restarts; a sound figure stops
  falling, a masked one keeps falling or never moves;
- ``square_accuracy``: a gradient-free attack (Square, Andriushchenko et al. 2020);
- ``masking_signs``: the signatures of gradient masking in one model's numbers;
- ``loss_surface``: the loss around images along the gradient's sign and a random direction;
- ``LEADERBOARD``: published MNIST defences at eps 0.3 under AutoAttack, for comparison.

Robust accuracy under AutoAttack itself is ``fh.autoattack`` (in ``fgsm_helpers.evaluation``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .attacks import check_count, check_images, check_labels, eval_mode, fgsm, pgd, to_pixel_eps
from .evaluation import pgd_accuracy
from .progress import progress_bar

#: AutoAttack's MNIST leaderboard at eps 0.3 (L-infinity): all 10 entries of its README
#: (github.com/fra31/auto-attack, README.md at commit a392200, table "MNIST - Linf"), highest
#: first. ``clean``, ``reported`` (by the authors, possibly on a subset or another model of the
#: same defence) and ``autoattack`` (the reference implementation, on all 10,000 test images) in
#: percent; ``model``: where the README's authors got it ("available": published weights,
#: "retrained": they trained it again).
LEADERBOARD = (
    {
        "defence": 'Gowal et al. 2020 ("Uncovering the limits of adversarial training")',
        "model": "available",
        "clean": 99.26,
        "reported": 96.38,
        "autoattack": 96.34,
    },
    {
        "defence": "Zhang et al. 2020 (CROWN-IBP)",
        "model": "available",
        "clean": 98.38,
        "reported": 96.38,
        "autoattack": 93.96,
    },
    {
        "defence": "Gowal et al. 2019 (IBP)",
        "model": "available",
        "clean": 98.34,
        "reported": 93.78,
        "autoattack": 92.83,
    },
    {
        "defence": "Zhang et al. 2019 (TRADES)",
        "model": "available",
        "clean": 99.48,
        "reported": 95.60,
        "autoattack": 92.81,
    },
    {
        "defence": "Ding et al. 2020 (MMA training)",
        "model": "available",
        "clean": 98.95,
        "reported": 92.59,
        "autoattack": 91.40,
    },
    {
        "defence": "Atzmon et al. 2019 (controlling neural level sets)",
        "model": "available",
        "clean": 99.35,
        "reported": 97.35,
        "autoattack": 90.85,
    },
    {
        "defence": "Madry et al. 2018 (PGD training)",
        "model": "available",
        "clean": 98.53,
        "reported": 89.62,
        "autoattack": 88.50,
    },
    {
        "defence": "Jang et al. 2019 (learning to generate diverse attacks)",
        "model": "available",
        "clean": 98.47,
        "reported": 94.61,
        "autoattack": 87.99,
    },
    {
        "defence": "Wong et al. 2020 (FGSM with random start)",
        "model": "available",
        "clean": 98.50,
        "reported": 88.77,
        "autoattack": 82.93,
    },
    {
        "defence": "Taghanaki et al. 2019 (kernelized manifold mapping)",
        "model": "retrained",
        "clean": 98.86,
        "reported": 64.25,
        "autoattack": 0.00,
    },
)
#: Test images behind every AutoAttack figure of the leaderboard (MNIST's whole test set).
LEADERBOARD_IMAGES = 10_000


def pgd_strength(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    eps: float,
    *,
    steps: tuple[int, ...] = (10, 20, 50, 100, 200),
    restarts: tuple[int, ...] = (1, 2, 5, 10),
    restart_steps: int = 50,
    seed: int = 0,
    progress: bool = True,
) -> dict[str, dict[int, float]]:
    """PGD accuracy (percent) as the attack gets stronger: ``{"steps": {n: acc}}`` for one run
    of n steps (step size ``2.5 * eps / n``), and ``{"restarts": {r: acc}}`` for
    ``restart_steps`` steps with r random restarts (an image counts as robust only if every
    restart fails). Each figure uses the same images and seed, so more steps or restarts can
    only find more, except for the luck of one run.

    >>> strength = pgd_strength(model, x_test[:200], y_test[:200], eps=0.3)
    >>> strength["steps"][200], strength["restarts"][10]
    """
    for name, counts in (("steps", steps), ("restarts", restarts)):
        if not counts:
            raise ValueError(f"{name} must name at least one count")
        for count in counts:
            check_count(count, name)
    check_count(restart_steps, "restart_steps")
    settings = [("steps", n, n, 1) for n in steps] + [
        ("restarts", r, restart_steps, r) for r in restarts
    ]
    if progress:
        settings = progress_bar(settings, desc="PGD strength", unit="setting")
    result: dict[str, dict[int, float]] = {"steps": {}, "restarts": {}}
    for kind, count, n_steps, n_restarts in settings:
        result[kind][count] = pgd_accuracy(
            model, x, y, eps, steps=n_steps, restarts=n_restarts, seed=seed, progress=False
        )
    return result


def square_accuracy(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    eps: float,
    *,
    queries: int = 1000,
    batch_size: int = 500,
    seed: int = 0,
    progress: bool = True,
) -> float:
    """Accuracy (percent) under the Square attack (Andriushchenko et al. 2020), L-infinity,
    ``eps`` in pixel units: a random search that only reads the model's outputs, so a
    defence that hides or breaks its gradients does not stop it. ``queries``: model calls per
    image (AutoAttack runs 5,000). torchattacks' implementation; it needs ``torchattacks``.
    """
    import torchattacks

    pixel_eps = to_pixel_eps(eps)
    check_count(queries, "queries")
    check_count(batch_size, "batch_size")
    check_images(x)
    check_labels(y, len(x))
    device = next(model.parameters()).device
    x, y = x.detach().to(device), y.to(device).long()
    if pixel_eps == 0:
        with eval_mode(model), torch.no_grad():
            return 100.0 * (model(x).argmax(1) == y).float().mean().item()
    attack = torchattacks.Square(
        model, norm="Linf", eps=pixel_eps, n_queries=queries, n_restarts=1, seed=seed
    )
    batches = range(0, len(x), batch_size)
    if progress:
        batches = progress_bar(batches, total=len(batches), desc="Square", unit="batch")
    correct = 0
    with eval_mode(model), torch.random.fork_rng(devices=[]):
        for start in batches:
            x_batch, y_batch = x[start : start + batch_size], y[start : start + batch_size]
            x_adv = attack(x_batch, y_batch)
            with torch.no_grad():
                correct += (model(x_adv).argmax(1) == y_batch).sum().item()
    return 100.0 * correct / len(x)


def masking_signs(
    *,
    fgsm: float,
    pgd: float,
    square: float,
    transfer: float,
    strongest: float | None = None,
    margin: float = 1.0,
) -> dict[str, bool]:
    """The signatures of gradient masking (Athalye et al. 2018; Carlini et al. 2019) in one
    model's accuracies at one eps (percent, same images):

    - ``"blind_beats_white_box"``: Square (no gradients) or transfer from another model (not
      this model's gradients) leaves lower accuracy than white-box PGD;
    - ``"one_step_beats_iterative"``: FGSM leaves lower accuracy than PGD;
    - ``"strongest_beats_pgd"``: with ``strongest`` (e.g. AutoAttack), it leaves lower
      accuracy than PGD by more than ``margin`` points.

    Each holds only by more than ``margin`` points (the noise of a few hundred images). None
    of them holding is what a sound evaluation looks like; it does not prove robustness.
    """
    signs = {
        "blind_beats_white_box": min(square, transfer) < pgd - margin,
        "one_step_beats_iterative": fgsm < pgd - margin,
    }
    if strongest is not None:
        signs["strongest_beats_pgd"] = strongest < pgd - margin
    return signs


def loss_surface(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    eps: float,
    *,
    points: int = 21,
    seed: int = 0,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The cross-entropy loss around images, as in Tramèr et al. 2018's picture of gradient
    masking: ``loss[i, j]`` is the mean loss of ``x + a_i * g + b_j * r`` (clamped to [0, 1]),
    with ``g`` the sign of each image's loss gradient, ``r`` a random sign pattern (one per
    image, from ``seed``) and ``a``, ``b`` running over ``points`` values in ``[-eps, eps]``.
    Returns ``(a, b, loss)``. A smooth, bowl-like surface that rises along ``g`` is what
    adversarial training should give; a surface flat along ``g`` but steep along ``r`` or at
    the edges means the gradient no longer points where the loss grows.
    """
    pixel_eps = to_pixel_eps(eps)
    check_images(x)
    check_labels(y, len(x))
    if isinstance(points, bool) or not isinstance(points, int) or points < 2:
        raise ValueError(f"points must be an integer of at least 2; got {points!r}")
    device = next(model.parameters()).device
    x, y = x.detach().to(device), y.to(device).long()
    with eval_mode(model):
        x_grad = x.clone().requires_grad_(True)
        (grad,) = torch.autograd.grad(F.cross_entropy(model(x_grad), y, reduction="sum"), x_grad)
        along_gradient = grad.sign()
        generator = torch.Generator().manual_seed(seed)
        random_sign = (torch.randint(0, 2, x.shape, generator=generator) * 2 - 1).to(x)
        steps = torch.linspace(-pixel_eps, pixel_eps, points)
        loss = torch.empty(points, points)
        with torch.no_grad():
            for i, a in enumerate(steps):
                for j, b in enumerate(steps):
                    x_moved = (x + a * along_gradient + b * random_sign).clamp(0.0, 1.0)
                    loss[i, j] = F.cross_entropy(model(x_moved), y).item()
    return steps, steps.clone(), loss


def surface_summary(a: torch.Tensor, loss: torch.Tensor) -> dict[str, float]:
    """Numbers that describe a ``loss_surface``: the loss at the image, at the FGSM point
    (``+eps`` along the gradient's sign), and the highest at any point of the square that lies
    in the eps ball (``|a| + |b| <= eps``: the square's corners move pixels by up to 2·eps).
    When that highest point is far above the FGSM point, a step along the gradient misses where
    the loss really grows within the threat model: the gradient is a poor guide, which is what
    gradient masking means."""
    centre = len(a) // 2
    eps = a.abs().max()
    inside = (a.abs()[:, None] + a.abs()[None, :]) <= eps * (1 + 1e-6)
    return {
        "at the image": loss[centre, centre].item(),
        "at the FGSM point": loss[-1, centre].item(),
        "highest in the ball": loss[inside].max().item(),
    }


def step_versus_search(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    eps: float,
    *,
    steps: int = 50,
    seed: int = 0,
) -> dict[str, float]:
    """Mean cross-entropy loss one FGSM step away (``"fgsm"``) and after a PGD search of
    ``steps`` steps in the same eps ball (``"pgd"``), and their ratio. For a model whose loss
    grows along its gradient the one step finds much of what the search finds; a large ratio
    means the gradient at the image points away from where the loss really grows in the ball
    (the loss surface curves sharply near the data: gradient masking).
    """
    device = next(model.parameters()).device
    x, y = x.detach().to(device), y.to(device).long()
    generator = torch.Generator(device=device).manual_seed(seed)
    x_fgsm = fgsm(model, x, y, eps)
    x_pgd = pgd(model, x, y, eps, steps=steps, generator=generator)
    with eval_mode(model), torch.no_grad():
        one_step = F.cross_entropy(model(x_fgsm), y).item()
        searched = F.cross_entropy(model(x_pgd), y).item()
    return {"fgsm": one_step, "pgd": searched, "ratio": searched / max(one_step, 1e-12)}
