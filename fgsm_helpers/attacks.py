"""L-infinity attacks on image classifiers: FGSM, PGD, FGSM with random start, TRADES's
inner maximization, flat gray.

Conventions (torchattacks' style): images are float tensors (N, C, H, W) in [0, 1]; the model
owns its normalization, so ``eps`` is in pixel units unless ``eps_units="normalized"`` asks for
the paper-style units (an eps applied after normalization: ``eps_pixel = eps * 0.3081``).
Attacks compute gradients with ``torch.autograd.grad`` on a detached copy of the images, run
the model in eval mode and restore each module's train/eval mode on exit, leave the
parameters' ``.grad`` untouched, and return detached adversarial images clamped to [0, 1].
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator

import torch
import torch.nn.functional as F
from torch import nn

from .models import MNIST_STD

EPS_UNITS = ("pixel", "normalized")


# ----------------------------------------------------------------------------- input checks
def check_images(x: torch.Tensor, name: str = "x") -> None:
    """Raise a clear error unless ``x`` is a float tensor (N, C, H, W) with values in [0, 1]."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of images; got {type(x).__name__}")
    if not torch.is_floating_point(x):
        raise TypeError(
            f"{name} must be a floating-point tensor with values in [0, 1]; got dtype {x.dtype} "
            "(convert uint8 images with x.float() / 255)"
        )
    if x.dim() != 4 or x.shape[0] == 0:
        raise ValueError(
            f"{name} must have shape (N, C, H, W) with N >= 1, e.g. (N, 1, 28, 28) for MNIST; "
            f"got {tuple(x.shape)}"
        )
    if torch.isnan(x).any():
        raise ValueError(f"{name} holds NaN values; images must lie in [0, 1]")
    low, high = x.min().item(), x.max().item()
    if low < 0.0 or high > 1.0:
        raise ValueError(
            f"{name} must hold pixel values in [0, 1] (the model normalizes them itself); "
            f"got values from {low:.4g} to {high:.4g}"
        )


def check_labels(y: torch.Tensor, n: int, num_classes: int | None = None, name: str = "y") -> None:
    """Raise a clear error unless ``y`` holds ``n`` integer class indices in 0..num_classes-1."""
    if not isinstance(y, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of class indices; got {type(y).__name__}")
    if y.dtype not in (torch.int64, torch.int32, torch.int16, torch.int8, torch.uint8):
        raise TypeError(f"{name} must hold integer class indices; got dtype {y.dtype}")
    if y.dim() != 1 or len(y) != n:
        raise ValueError(
            f"{name} must be a 1-D tensor with one label per image ({n}); got shape {tuple(y.shape)}"
        )
    if num_classes is not None and len(y):
        low, high = int(y.min()), int(y.max())
        if low < 0 or high >= num_classes:
            raise ValueError(
                f"{name} must hold class indices in 0..{num_classes - 1}; "
                f"got values from {low} to {high}"
            )


def to_pixel_eps(eps: float, eps_units: str = "pixel", name: str = "eps") -> float:
    """``eps`` in pixel units, after checking it is a finite, non-negative number.

    ``eps_units="normalized"`` means an eps applied after normalization: ``eps * 0.3081``.
    """
    if eps_units not in EPS_UNITS:
        raise ValueError(f"eps_units must be 'pixel' or 'normalized'; got {eps_units!r}")
    if isinstance(eps, torch.Tensor) and eps.numel() == 1:
        eps = eps.item()
    if isinstance(eps, bool) or not isinstance(eps, (int, float)):
        raise TypeError(f"{name} must be a number; got {type(eps).__name__}")
    eps = float(eps)
    if not math.isfinite(eps) or eps < 0:
        raise ValueError(f"{name} must be a finite number >= 0; got {eps}")
    pixel_eps = eps * MNIST_STD if eps_units == "normalized" else eps
    if pixel_eps > 1.0:
        limit = "1" if eps_units == "pixel" else f"{1 / MNIST_STD:.4g} in normalized units"
        raise ValueError(
            f"{name}={eps} ({eps_units} units) is larger than the whole pixel range [0, 1]; "
            f"use 0 <= {name} <= {limit}"
        )
    return pixel_eps


def check_count(value: int, name: str) -> None:
    """Refuse a count (steps, restarts, a batch size...) that is not a positive integer."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer; got {value!r}")


# ------------------------------------------------------------------------------ mechanics
@contextlib.contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Run ``model`` in eval mode inside the block and restore every module's mode after."""
    modes = [(module, module.training) for module in model.modules()]
    model.eval()
    try:
        yield model
    finally:
        for module, training in modes:
            module.training = training


def num_classes(model: nn.Module, x: torch.Tensor) -> int:
    """Number of model outputs, read from one forward pass on the first image."""
    with eval_mode(model), torch.no_grad():
        return model(x[:1]).shape[1]


def _labels_for(model: nn.Module, x: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
    """Check ``y`` against the model's number of outputs; ``None`` means the predicted labels."""
    with torch.no_grad():
        logits = model(x[:1] if y is not None else x)
    if y is None:
        return logits.argmax(dim=1)
    check_labels(y, len(x), logits.shape[1])
    return y.to(x.device).long()


def loss_gradient(model: nn.Module, x_adv: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Gradient of the summed cross-entropy loss with respect to the images (model untouched)."""
    x_adv = x_adv.detach().requires_grad_(True)
    loss = F.cross_entropy(model(x_adv), y, reduction="sum")
    (grad,) = torch.autograd.grad(loss, x_adv)
    return grad


def fgsm_direction(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor | None = None
) -> torch.Tensor:
    """``sign(grad_x loss(model(x), y))``: the FGSM step for every eps at once.

    FGSM's direction does not depend on eps, so a sweep over eps computes it once per batch.
    ``y=None`` uses the model's predicted labels (no label leaking).
    """
    check_images(x)
    with eval_mode(model):
        y = _labels_for(model, x, y)
        return loss_gradient(model, x, y).sign()


def perturb(x: torch.Tensor, direction: torch.Tensor, pixel_eps: float) -> torch.Tensor:
    """``clamp(x + pixel_eps * direction, 0, 1)``; eps = 0 gives ``x`` itself (detached)."""
    if pixel_eps == 0:
        return x.detach().clone()
    return (x.detach() + pixel_eps * direction).clamp_(0.0, 1.0)


# -------------------------------------------------------------------------------- attacks
def fgsm(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor | None,
    eps: float,
    *,
    eps_units: str = "pixel",
) -> torch.Tensor:
    """Fast Gradient Sign Method (Goodfellow, Shlens & Szegedy 2015).

    ``x_adv = clamp(x + eps * sign(grad_x L(model(x), y)), 0, 1)`` with L the cross-entropy.
    x: (N, C, H, W) in [0, 1]; y: (N,) class indices, or None for the predicted labels;
    eps in pixel units (``eps_units="normalized"``: eps after normalization, times 0.3081).

    >>> x_adv = fgsm(model, x_test[:64], y_test[:64], eps=0.1)
    >>> (x_adv - x_test[:64]).abs().max() <= 0.1      # tensor(True)
    """
    pixel_eps = to_pixel_eps(eps, eps_units)
    check_images(x)
    if pixel_eps == 0:
        with eval_mode(model):
            _labels_for(model, x, y)
        return x.detach().clone()
    return perturb(x, fgsm_direction(model, x, y), pixel_eps)


def _project(x: torch.Tensor, x_adv: torch.Tensor, pixel_eps: float) -> torch.Tensor:
    """Back into the eps ball around ``x`` and into [0, 1]."""
    delta = (x_adv - x).clamp_(-pixel_eps, pixel_eps)
    return (x + delta).clamp_(0.0, 1.0)


def _random_start(
    x: torch.Tensor, pixel_eps: float, generator: torch.Generator | None
) -> torch.Tensor:
    """A uniform random point of the eps ball around ``x``, clamped to [0, 1]."""
    device = generator.device if generator is not None else x.device
    noise = torch.rand(x.shape, generator=generator, device=device).to(x.device, x.dtype)
    return (x + (2 * noise - 1) * pixel_eps).clamp_(0.0, 1.0)


def fgsm_random_start(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    eps: float,
    alpha: float | None = None,
    *,
    eps_units: str = "pixel",
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """FGSM from a uniform random start in the eps ball (Wong, Rice & Kolter 2020, "Fast is
    better than free"): ``x0 = x + U(-eps, eps)``, ``x_adv = proj(x0 + alpha * sign(grad))``.

    ``alpha`` defaults to ``1.25 * eps``, the paper's choice, in the same units as ``eps``.
    """
    pixel_eps = to_pixel_eps(eps, eps_units)
    pixel_alpha = 1.25 * pixel_eps if alpha is None else to_pixel_eps(alpha, eps_units, "alpha")
    check_images(x)
    if pixel_eps == 0:
        return x.detach().clone()
    x = x.detach()
    with eval_mode(model):
        y = _labels_for(model, x, y)
        x_adv = _random_start(x, pixel_eps, generator)
        grad = loss_gradient(model, x_adv, y)
    return _project(x, x_adv + pixel_alpha * grad.sign(), pixel_eps)


def pgd(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor | None,
    eps: float,
    alpha: float | None = None,
    steps: int = 40,
    random_start: bool = True,
    *,
    restarts: int = 1,
    eps_units: str = "pixel",
    stop_early: bool = False,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Projected Gradient Descent in the L-infinity ball (Madry et al. 2018).

    ``x_{t+1} = clamp(x + clip(x_t + alpha * sign(grad_x L(model(x_t), y)) - x, -eps, eps), 0, 1)``
    from a uniform random start in the ball (``random_start``). ``alpha`` defaults to
    ``2.5 * eps / steps`` (same units as ``eps``). With ``restarts > 1`` each image keeps its
    worst case over the restarts: a misclassified result first, else the highest loss.
    ``stop_early=True`` (for measuring accuracy) freezes an image as soon as it is
    misclassified and restarts only the images still classified right: never weaker, often
    much faster.

    >>> x_adv = pgd(model, x_test[:64], y_test[:64], eps=0.3, steps=40)
    """
    pixel_eps = to_pixel_eps(eps, eps_units)
    check_count(steps, "steps")
    check_count(restarts, "restarts")
    pixel_alpha = (
        2.5 * pixel_eps / steps if alpha is None else to_pixel_eps(alpha, eps_units, "alpha")
    )
    check_images(x)
    x = x.detach()
    with eval_mode(model):
        y = _labels_for(model, x, y)
        if pixel_eps == 0:
            return x.clone()
        best = x.clone()
        best_loss = torch.full((len(x),), -math.inf, device=x.device)
        best_wrong = torch.zeros(len(x), dtype=torch.bool, device=x.device)
        for _ in range(restarts):
            # The start is drawn for the whole batch every time, so the random stream does
            # not depend on which images are still being attacked.
            start = _random_start(x, pixel_eps, generator) if random_start else x.clone()
            active = (
                (~best_wrong).nonzero().squeeze(1)
                if stop_early
                else torch.arange(len(x), device=x.device)
            )
            if len(active) == 0:
                break
            x_adv = start[active]
            x_active, y_active = x[active], y[active]
            done = torch.zeros(len(active), dtype=torch.bool, device=x.device)
            for _ in range(steps):
                todo = (~done).nonzero().squeeze(1) if stop_early else None
                if todo is not None and len(todo) == 0:
                    break
                x_step = x_adv if todo is None else x_adv[todo]
                x_step = x_step.detach().requires_grad_(True)
                logits = model(x_step)
                y_step = y_active if todo is None else y_active[todo]
                (grad,) = torch.autograd.grad(
                    F.cross_entropy(logits, y_step, reduction="sum"), x_step
                )
                x_next = _project(
                    x_active if todo is None else x_active[todo],
                    x_step.detach() + pixel_alpha * grad.sign(),
                    pixel_eps,
                )
                if todo is None:
                    x_adv = x_next
                else:
                    fooled = logits.argmax(dim=1) != y_step
                    keep = ~fooled  # a fooled image stays where it was fooled
                    x_adv[todo[keep]] = x_next[keep]
                    done[todo[fooled]] = True
            with torch.no_grad():
                logits = model(x_adv)
                loss = F.cross_entropy(logits, y_active, reduction="none")
                wrong = logits.argmax(dim=1) != y_active
            better = (wrong & ~best_wrong[active]) | (
                (wrong == best_wrong[active]) & (loss > best_loss[active])
            )
            chosen = active[better]
            best[chosen] = x_adv[better]
            best_loss[chosen] = loss[better]
            best_wrong[chosen] |= wrong[better]
        return best


def trades_adversary(
    model: nn.Module,
    x: torch.Tensor,
    eps: float,
    alpha: float | None = None,
    steps: int = 10,
    *,
    eps_units: str = "pixel",
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """TRADES's inner maximization (Zhang et al. 2019): the point of the eps ball around ``x``
    whose prediction differs most from the prediction on ``x``, found by ``steps`` signed
    gradient steps of ``alpha`` on ``KL(p(x) || p(x'))`` from ``x + 0.001 * N(0, 1)``.

    It needs no labels: it pushes the output away from what the model says on the clean image,
    right or wrong. ``alpha`` defaults to ``2.5 * eps / steps`` (same units as ``eps``).

    >>> x_adv = trades_adversary(model, x_batch, eps=0.3, steps=5)
    """
    pixel_eps = to_pixel_eps(eps, eps_units)
    check_count(steps, "steps")
    pixel_alpha = (
        2.5 * pixel_eps / steps if alpha is None else to_pixel_eps(alpha, eps_units, "alpha")
    )
    check_images(x)
    x = x.detach()
    if pixel_eps == 0:
        return x.clone()
    with eval_mode(model):
        with torch.no_grad():
            clean_log_probs = F.log_softmax(model(x), dim=1)
        device = generator.device if generator is not None else x.device
        noise = torch.randn(x.shape, generator=generator, device=device).to(x.device, x.dtype)
        x_adv = _project(x, x + 0.001 * noise, pixel_eps)
        for _ in range(steps):
            x_step = x_adv.detach().requires_grad_(True)
            divergence = F.kl_div(
                F.log_softmax(model(x_step), dim=1),
                clean_log_probs,
                reduction="sum",
                log_target=True,
            )
            (grad,) = torch.autograd.grad(divergence, x_step)
            x_adv = _project(x, x_step.detach() + pixel_alpha * grad.sign(), pixel_eps)
    return x_adv


def flat_gray_attack(x: torch.Tensor, eps: float, level: float = 0.5) -> torch.Tensor:
    """Move every pixel as close to ``level`` as the eps ball allows: ``clamp(level, x-eps, x+eps)``.

    For eps >= 0.5 every image in [0, 1] becomes the same flat gray image, so no classifier
    can beat the frequency of the most common class against this attack.
    """
    pixel_eps = to_pixel_eps(eps)
    check_images(x)
    if not 0.0 <= level <= 1.0:
        raise ValueError(f"level must lie in [0, 1]; got {level}")
    target = torch.full_like(x, level)
    return (
        torch.minimum(torch.maximum(target, x - pixel_eps), x + pixel_eps).clamp_(0.0, 1.0).detach()
    )


def accuracy_ceiling(y: torch.Tensor, num_classes: int = 10) -> float:
    """Best accuracy (percent) any classifier can have when every image is the same:
    the share of the most common class in ``y``."""
    check_labels(y, len(y), num_classes)
    return 100.0 * torch.bincount(y.long().cpu(), minlength=num_classes).max().item() / len(y)


def deepfool(
    model: nn.Module,
    x: torch.Tensor,
    steps: int = 50,
    overshoot: float = 0.02,
    num_classes: int = 10,
) -> tuple[torch.Tensor, torch.Tensor]:
    """DeepFool (Moosavi-Dezfooli, Fawzi & Frossard 2016): the smallest L2 step that crosses the
    nearest linearized decision boundary, repeated until the predicted label changes.

    Each iteration, for the current label l and every other class k:
    ``w_k = grad f_k - grad f_l``, ``d_k = f_k - f_l``; step ``r = (|d_j| / ||w_j||^2) w_j`` for
    the k = j with the smallest ``|d_k| / ||w_k||``; the result is ``x + (1 + overshoot) * sum r``,
    clamped to [0, 1]. x: (N, C, H, W) in [0, 1]. Returns ``(x_adv, fooled)``, where ``fooled``
    says which images changed label within ``steps`` iterations.

    >>> x_adv, fooled = deepfool(model, x_test[:100])
    >>> (x_adv - x_test[:100]).flatten(1).norm(dim=1)   # minimal L2 perturbation sizes
    """
    check_count(steps, "steps")
    if not (isinstance(overshoot, (int, float)) and math.isfinite(overshoot) and overshoot >= 0):
        raise ValueError(f"overshoot must be a finite number >= 0; got {overshoot!r}")
    check_images(x)
    x = x.detach()
    with eval_mode(model):
        with torch.no_grad():
            original = model(x).argmax(dim=1)
        total = torch.zeros_like(x)
        fooled = torch.zeros(len(x), dtype=torch.bool, device=x.device)
        x_adv = x.clone()
        for _ in range(steps):
            active = (~fooled).nonzero().squeeze(1)
            if len(active) == 0:
                break
            x_step = x_adv[active].detach().requires_grad_(True)
            logits = model(x_step)
            current = logits.argmax(dim=1)
            newly = current != original[active]
            fooled[active[newly]] = True
            keep = ~newly
            if not keep.any():
                break
            grads = torch.stack(
                [
                    torch.autograd.grad(
                        logits[:, k].sum(), x_step, retain_graph=k < num_classes - 1
                    )[0]
                    for k in range(num_classes)
                ],
                dim=1,
            )  # (B, K, C, H, W)
            rows = torch.arange(len(active), device=x.device)
            own = original[active]
            w = grads - grads[rows, own].unsqueeze(1)
            f = (logits - logits[rows, own].unsqueeze(1)).detach()
            w_norm = w.flatten(2).norm(dim=2) + 1e-8
            ratio = f.abs() / w_norm
            ratio[rows, own] = math.inf
            nearest = ratio.argmin(dim=1)
            w_best = w[rows, nearest]
            step = ((ratio[rows, nearest] + 1e-4) / w_norm[rows, nearest]).view(
                -1, 1, 1, 1
            ) * w_best
            index = active[keep]
            total[index] += step[keep]
            x_adv[index] = (x[index] + (1 + overshoot) * total[index]).clamp(0.0, 1.0)
        with torch.no_grad():
            fooled = model(x_adv).argmax(dim=1) != original
    return x_adv.detach(), fooled
