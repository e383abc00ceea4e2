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

import os
from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .attacks import check_count, check_images, check_labels, eval_mode, fgsm, pgd, to_pixel_eps
from .evaluation import pgd_accuracy, robustness_curve, transfer_accuracy
from .progress import progress_bar
from .results import add_records, curve_records, make_record
from .stats import accuracy_interval, distinguishable, mcnemar_exact

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
#: The reference implementation's check (``check_square_sr`` in fra31/auto-attack's
#: ``autoattack/checks.py``) warns when Square lowers the robust accuracy left by the gradient
#: attacks by more than this share of the images.
SQUARE_WARNING_SHARE = 0.002
#: From this pixel eps on, every image can be moved to the same flat gray image, so no
#: classifier keeps more than the share of the most common class (``fh.accuracy_ceiling``).
#: The same number as ``fh.plots.CEILING_FROM_PIXEL_EPS``: robustness does not import plots.
FLAT_GRAY_PIXEL_EPS = 0.5


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
    results_path: str | os.PathLike | None = None,
    model_name: str | None = None,
) -> dict[str, dict[int, float]]:
    """PGD accuracy (percent) as the attack gets stronger: ``{"steps": {n: acc}}`` for one run
    of n steps (step size ``2.5 * eps / n``), and ``{"restarts": {r: acc}}`` for
    ``restart_steps`` steps with r random restarts (an image counts as robust only if every
    restart fails). Each figure uses the same images and seed, so more steps or restarts can
    only find more, except for the luck of one run. With ``results_path`` (and the
    ``model_name`` to file them under) every figure is also recorded there.

    >>> strength = pgd_strength(model, x_test[:200], y_test[:200], eps=0.3)
    >>> strength["steps"][200], strength["restarts"][10]
    """
    _check_recording(results_path, model_name)
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
    if results_path is not None:
        records = [
            make_record(
                model_name,
                "pgd",
                eps,
                value,
                n_images=len(x),
                steps=count if kind == "steps" else restart_steps,
                restarts=1 if kind == "steps" else count,
                labels="true",
                alpha="2.5*eps/steps",
            )
            for kind in ("steps", "restarts")
            for count, value in result[kind].items()
        ]
        add_records(results_path, records)
    return result


def _check_recording(results_path, model_name) -> None:
    if results_path is not None and not (isinstance(model_name, str) and model_name):
        raise ValueError("recording in results_path needs the model_name to file it under")


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
    results_path: str | os.PathLike | None = None,
    model_name: str | None = None,
) -> float:
    """Accuracy (percent) under the Square attack (Andriushchenko et al. 2020), L-infinity,
    ``eps`` in pixel units: a random search that only reads the model's outputs, so a
    defence that hides or breaks its gradients does not stop it. ``queries``: model calls per
    image (AutoAttack runs 5,000). torchattacks' implementation; it needs ``torchattacks``.
    With ``results_path`` (and ``model_name``) the figure is also recorded there.
    """
    _check_recording(results_path, model_name)
    accuracy = _square_accuracy(model, x, y, eps, queries, batch_size, seed, progress)
    if results_path is not None:
        record = make_record(
            model_name,
            "square",
            eps,
            accuracy,
            n_images=len(x),
            queries=queries,
            implementation="torchattacks",
        )
        add_records(results_path, [record])
    return accuracy


def _square_accuracy(model, x, y, eps, queries, batch_size, seed, progress) -> float:
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


# ------------------------------------------------------- chapter 06's measurements and tables


def with_interval(accuracy: float, n: int, decimals: int = 1) -> str:
    """An accuracy (percent) on ``n`` images with its 95% Wilson interval, for prose.

    >>> with_interval(90.0, 1000)
    '90.0% (88.0-91.7)'
    """
    low, high = accuracy_interval(accuracy, n)
    return f"{accuracy:.{decimals}f}% ({low:.{decimals}f}-{high:.{decimals}f})"


def _interval_range(accuracy: float, n: int, decimals: int = 1) -> str:
    low, high = accuracy_interval(accuracy, n)
    return f"{low:.{decimals}f}-{high:.{decimals}f}"


def _names(names: Sequence[str]) -> str:
    return ", ".join(f"`{name}`" for name in names)


def pgd_sweep(
    models: Mapping[str, nn.Module],
    x: torch.Tensor,
    y: torch.Tensor,
    eps_list: Sequence[float],
    *,
    steps: int = 50,
    seed: int = 0,
    results_path: str | os.PathLike | None = None,
) -> dict[str, dict[float, float]]:
    """PGD accuracy (percent) of every model at every eps: ``{name: {eps: accuracy}}``, each
    model attacked with ``steps`` steps of ``2.5 * eps / steps`` from random starts drawn from
    ``seed`` (the same draws for every model). With ``results_path`` every figure is also
    recorded there.

    >>> sweep = pgd_sweep(models, x_test[:200], y_test[:200], [0.0, 0.3, 0.5], steps=50)
    """
    check_count(steps, "steps")
    curves = {}
    for name, model in models.items():
        generator = torch.Generator(device=x.device).manual_seed(seed)
        curves[name] = robustness_curve(
            model, x, y, eps_list, attack="pgd", steps=steps, generator=generator
        )
        if results_path is not None:
            records = curve_records(
                name,
                "pgd",
                curves[name],
                n_images=len(x),
                steps=steps,
                restarts=1,
                alpha="2.5*eps/steps",
                labels="true",
            )
            add_records(results_path, records)
    return curves


def ceiling_verdict(sweep: Mapping[str, Mapping[float, float]], ceiling: float, n: int) -> str:
    """Whether PGD brings every model of ``sweep`` (from :func:`pgd_sweep`) down to the
    accuracy ceiling (percent, ``fh.accuracy_ceiling`` of the same ``n`` images) at the eps
    where it applies, as a sentence. The comparison is exact, not statistical: on these images
    the flat-gray attack leaves at most the ceiling, so any figure above it is an attack that
    failed where a working one succeeds."""
    eps_from = sorted(e for e in next(iter(sweep.values())) if e >= FLAT_GRAY_PIXEL_EPS)
    if not eps_from:
        raise ValueError(
            f"the sweep must reach eps {FLAT_GRAY_PIXEL_EPS}, where the ceiling applies"
        )
    top = eps_from[0]
    above = {
        name: max(curve[e] for e in eps_from)
        for name, curve in sweep.items()
        if any(curve[e] > ceiling for e in eps_from)
    }
    start = f"From eps {top:g} on, the ceiling for these {n} images is {ceiling:.1f}%. "
    if not above:
        return (
            start
            + f"At eps {top:g} PGD brings every model to it or below ("
            + ", ".join(f"`{name}` {curve[top]:.1f}%" for name, curve in sweep.items())
            + "): the attack works where it must."
        )
    return (
        start
        + f"Above it at eps {top:g} or more: "
        + ", ".join(f"`{name}` up to {value:.1f}%" for name, value in above.items())
        + ". PGD fails where any working attack succeeds: "
        + ("this model's" if len(above) == 1 else "these models'")
        + " gradients mislead it, or PGD as run here is too weak for "
        + ("it" if len(above) == 1 else "them")
        + " (this sweep does not tell the two apart); either way "
        + ("its" if len(above) == 1 else "their")
        + " PGD figures at smaller eps are not to be trusted either."
    )


def strength_rows(strength: Mapping[str, Mapping[str, Mapping[int, float]]]) -> list[dict]:
    """One table row per model of :func:`pgd_strength` results: accuracy (percent) for each
    number of steps (``"10 steps %"``) and of restarts (``"x2 %"``)."""
    return [
        {
            "model": name,
            **{f"{n} steps %": result["steps"][n] for n in sorted(result["steps"])},
            **{f"x{r} %": result["restarts"][r] for r in sorted(result["restarts"])},
        }
        for name, result in strength.items()
    ]


def _at_least(higher: float, lower: float, n: int) -> str:
    """How many images a stronger attack must have broken that a weaker one left standing, when
    both ran on the same ``n`` images and left ``higher`` and ``lower`` percent: at least the
    difference of the counts (a set of k images has at least k - m outside a set of m)."""
    k = round((higher - lower) * n / 100)
    return "1 image" if k == 1 else f"{k} images"


def _moved(before: float, after: float) -> str:
    if after == before:
        return "did not move it"
    return f"{'lowered' if after < before else 'raised'} it by {abs(after - before):.1f} points"


def strength_verdicts(strength: Mapping[str, Mapping[str, Mapping[int, float]]], n: int) -> str:
    """What :func:`pgd_strength` results on ``n`` images say, one line per model: the figure
    with the fewest steps and at the strongest setting, with 95% intervals, and whether the
    last increase of steps or restarts still lowered it by more than the intervals allow."""
    lines = []
    for name, result in strength.items():
        steps, restarts = sorted(result["steps"]), sorted(result["restarts"])
        weakest = result["steps"][steps[0]]
        strongest = min([*result["steps"].values(), *result["restarts"].values()])
        if strongest == 0.0:
            when = f"with {steps[0]} steps" if weakest == 0.0 else "at the strongest setting"
            lines.append(
                f"- `{name}`: PGD breaks every one of the {n} images {when}: nothing is left to "
                "fall."
            )
            continue
        changes, falling, more_broken = [], False, False
        for kind, counts in (("steps", steps), ("restarts", restarts)):
            if len(counts) < 2:
                continue
            before, after = result[kind][counts[-2]], result[kind][counts[-1]]
            changes.append(
                f"going from {counts[-2]} to {counts[-1]} {kind} {_moved(before, after)}"
            )
            if kind == "restarts":  # the same images, each robust only if every restart fails
                more_broken |= after < before
            falling |= after < before and distinguishable((before, n), (after, n))
        if not changes:
            verdict = "one setting of each: add steps and restarts to see whether it still falls"
        elif falling:
            verdict = (
                "the figure fell below the previous one's interval: it is still falling, a "
                "stronger attack is needed"
            )
        elif more_broken:
            verdict = (
                "more restarts still broke images of the same set that fewer had left standing, "
                "real adversarial examples and not noise: the figure has not flattened yet, "
                "however small the step"
            )
        elif all(
            result[kind][c[-2]] == result[kind][c[-1]]
            for kind, c in (("steps", steps), ("restarts", restarts))
            if len(c) > 1
        ):
            verdict = (
                f"the strongest settings broke no further image of these {n}: PGD has stopped "
                "finding more (AutoAttack, section 6, is the stronger check)"
            )
        else:
            verdict = f"inside the 95% intervals, so no sign on {n} images that it is still falling"
        lines.append(
            f"- `{name}`: {with_interval(weakest, n)} with {steps[0]} steps, "
            f"{with_interval(strongest, n)} at the strongest setting; "
            + ", ".join(changes)
            + f": {verdict}."
        )
    return "In this run:\n" + "\n".join(lines)


def transfer_pgd_accuracy(
    source: nn.Module,
    target: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    eps: float,
    *,
    steps: int = 20,
    results_path: str | os.PathLike | None = None,
    model_name: str | None = None,
    source_name: str = "baseline",
) -> float:
    """Accuracy (percent) of ``target`` on PGD images (``steps`` steps, ``eps`` in pixel units)
    crafted on ``source``: a transfer attack, which never reads the target's gradients. With
    ``results_path`` (and ``model_name``, the target's name) it is also recorded there."""
    _check_recording(results_path, model_name)
    accuracy = transfer_accuracy(source, target, x, y, [eps], attack="pgd", steps=steps)[float(eps)]
    if results_path is not None:
        record = make_record(
            model_name,
            "transfer_pgd",
            eps,
            accuracy,
            n_images=len(x),
            source_model=source_name,
            steps=steps,
            labels="true",
        )
        add_records(results_path, [record])
    return accuracy


def blind_rows(
    blind: Mapping[str, Mapping[str, float]],
    *,
    pgd_steps: int,
    square_queries: int,
    transfer_steps: int,
    source_name: str = "baseline",
) -> list[dict]:
    """One table row per model of ``{name: {"fgsm": ..., "pgd": ..., "square": ...,
    "transfer": ...}}`` (accuracies in percent on the same images), with headers that say
    which attack and how strong."""
    headers = {
        "fgsm": "FGSM %",
        "pgd": f"PGD-{pgd_steps} %",
        "square": f"Square ({square_queries} queries) %",
        "transfer": f"transfer PGD-{transfer_steps} from {source_name} %",
    }
    return [
        {"model": name, **{header: row[key] for key, header in headers.items()}}
        for name, row in blind.items()
    ]


_ATTACK_NAMES = {
    "fgsm": "FGSM",
    "fgsm_rs": "FGSM from a random start",
    "pgd": "PGD",
    "trades": "TRADES",
}


def training_attack(recipe: Mapping, eps: float) -> str:
    """How a model of the zoo was trained (its ``meta["recipe"]``), against the eps (pixel units)
    it is evaluated at: "trained against FGSM at this eps", "trained against FGSM at eps 0.0924
    in pixel units (0.3 in normalized units), not at the 0.3 evaluated here", ..."""
    attack = recipe.get("attack")
    if attack is None:
        return "trained on clean images only"
    name = _ATTACK_NAMES.get(attack, attack)
    steps = recipe.get("attack_kwargs", {}).get("steps")
    if steps and attack == "pgd":
        name = f"against {name} ({steps} steps)"
    elif steps and attack == "trades":  # TRADES is a loss with an attack inside, not an attack
        name = f"with {name} (a {steps}-step inner attack)"
    else:
        name = f"against {name}"
    units = recipe.get("eps_units", "pixel")
    train_eps = recipe["train_eps"]
    pixel_eps = to_pixel_eps(train_eps, units)
    if abs(pixel_eps - eps) < 1e-9:
        return f"trained {name} at this eps"
    where = f"eps {pixel_eps:.3g} in pixel units"
    if units != "pixel":
        where += f" ({train_eps:g} in {units} units)"
    return f"trained {name} at {where}, not at the {eps:g} evaluated here"


def blind_verdicts(
    blind: Mapping[str, Mapping[str, float]],
    n: int,
    recipes: Mapping[str, Mapping],
    eps: float,
    *,
    pgd_steps: int,
) -> str:
    """What the four attacks of :func:`blind_rows` say about each model, on ``n`` images, with
    95% intervals: whether FGSM's figure is above PGD's (then how the model was trained, from
    ``recipes``), and whether a black-box attack (Square, or transfer) leaves less than
    white-box PGD. Differences inside the intervals are called so."""
    lines = []
    for name, row in blind.items():
        fgsm_acc, pgd_acc = row["fgsm"], row["pgd"]
        pgd_text = f"PGD-{pgd_steps}"
        clauses = []
        if fgsm_acc > pgd_acc and distinguishable((fgsm_acc, n), (pgd_acc, n)):
            clauses.append(
                f"FGSM leaves {with_interval(fgsm_acc, n)}, {pgd_text} "
                f"{with_interval(pgd_acc, n)}, intervals apart: the one-step figure overstates "
                f"its robustness; it was {training_attack(recipes[name], eps)}"
            )
        attack, black_box = min(
            (("Square", row["square"]), ("the transfer attack", row["transfer"])),
            key=lambda pair: pair[1],
        )
        if black_box < pgd_acc and distinguishable((black_box, n), (pgd_acc, n)):
            clauses.append(
                f"{attack} leaves {with_interval(black_box, n)}, below white-box {pgd_text}'s "
                f"{with_interval(pgd_acc, n)}, intervals apart: PGD misses adversarial images "
                f"that exist, because this model's gradients mislead it or because {pgd_text} is "
                "too weak for it; either way its PGD figure overstates its robustness"
            )
        elif black_box < pgd_acc:
            clauses.append(
                f"{attack} leaves {with_interval(black_box, n)}, {pgd_text} "
                f"{with_interval(pgd_acc, n)}: the intervals overlap, but on the same images "
                f"{attack} broke at least {_at_least(pgd_acc, black_box, n)} that {pgd_text} left "
                f"standing, adversarial images that exist and {pgd_text} missed: a warning sign "
                "(section 6 runs Square longer)"
            )
        else:
            clauses.append(
                f"no black-box attack leaves less than white-box {pgd_text} ({pgd_acc:.1f}%; "
                f"Square {row['square']:.1f}%, transfer {row['transfer']:.1f}%)"
            )
        text = ". ".join(c if i == 0 else c[0].upper() + c[1:] for i, c in enumerate(clauses))
        lines.append(f"- `{name}`: {text}.")
    return "In this run:\n" + "\n".join(lines)


def surface_row(
    name: str,
    surface: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
    search: Mapping[str, float],
    steps: int,
) -> dict:
    """One table row from a :func:`loss_surface` and a :func:`step_versus_search` result of
    the same images: the loss at the image, at the FGSM point, the highest in the eps ball of
    the slice, after the PGD search (``steps`` steps) and the search's gain over the step."""
    summary = surface_summary(surface[0], surface[2])
    return {
        "model": name,
        **{f"loss {where}": value for where, value in summary.items()},
        f"loss after PGD-{steps}": search["pgd"],
        "PGD / FGSM point": search["ratio"],
    }


def surface_verdicts(
    surface_rows: Sequence[Mapping],
    accuracies: Mapping[str, Mapping[str, float]],
    n: int,
    *,
    steps: int,
) -> str:
    """What the loss surfaces (rows of :func:`surface_row`) and the accuracies under FGSM and
    PGD (``{name: {"fgsm": ..., "pgd": ...}}``, percent on ``n`` images) say about each model's
    gradient, one line per model: whether the FGSM point is the slice's highest point in the
    eps ball (an exact reading of the picture), the search's gain over the step, and whether
    FGSM's accuracy lies above PGD's with the 95% intervals apart."""
    lines = []
    for row in surface_rows:
        name = row["model"]
        peak, step = row["loss highest in the ball"], row["loss at the FGSM point"]
        if peak <= step:
            slice_text = "the FGSM point is the highest point of the slice inside the ball"
        else:
            slice_text = (
                f"inside the ball the slice rises to {peak:.2f}, above the FGSM point's {step:.2f}"
            )
        fgsm_acc, pgd_acc = accuracies[name]["fgsm"], accuracies[name]["pgd"]
        if fgsm_acc > pgd_acc and distinguishable((fgsm_acc, n), (pgd_acc, n)):
            verdict = (
                "intervals apart: one step along the gradient misses images the search breaks, "
                "so the gradient at the image is a poor guide to where the loss grows in the ball"
            )
        elif pgd_acc < fgsm_acc:
            verdict = (
                f"the intervals overlap, but on the same images the search broke at least "
                f"{_at_least(fgsm_acc, pgd_acc, n)} that the one step left standing, each a real "
                "adversarial image the step missed"
            )
        else:
            verdict = (
                "the search broke no more of these images than the one step: no sign here that "
                "it beats the step, which does not show that the two are equal"
            )
        lines.append(
            f"- `{name}`: {slice_text}; PGD-{steps} takes the mean loss to "
            f"{row[f'loss after PGD-{steps}']:.2f}, {row['PGD / FGSM point']:.1f} times the FGSM "
            f"point's {step:.2f}. On the first {n} test images FGSM leaves "
            f"{with_interval(fgsm_acc, n)}, PGD-{steps} {with_interval(pgd_acc, n)}, {verdict}."
        )
    return (
        "The slice is two directions out of 784, and PGD searches them all. In this run:\n"
        + "\n".join(lines)
    )


# ---------------------------------------------------------------------- AutoAttack's tables


def accuracy_on_first(result, n: int) -> float:
    """Robust accuracy (percent) of an ``fh.autoattack`` result on its first ``n`` images
    (those another check of the chapter ran on)."""
    check_count(n, "n")
    if n > result.n_images:
        raise ValueError(f"n={n} is more than the {result.n_images} images AutoAttack ran on")
    return 100.0 * result.broken_by[:n].count(None) / n


def autoattack_rows(results: Mapping) -> list[dict]:
    """One table row per model of ``{name: fh.autoattack result}``: clean and robust accuracy
    (percent) on its images, how many images each attack broke first, and the seconds."""
    return [
        {
            "model": name,
            "clean %": result.clean_accuracy,
            "AutoAttack %": result.accuracy,
            **result.counts,
            "seconds": sum(result.seconds.values()),
        }
        for name, result in results.items()
    ]


def square_findings(result) -> dict:
    """What Square added to an ``fh.autoattack`` result: the robust accuracy (percent) the
    gradient attacks left, the images Square then broke, the accuracy after it, and whether
    the reference implementation's check (``check_square_sr``) would warn: Square lowering the
    accuracy by more than :data:`SQUARE_WARNING_SHARE` of the images."""
    broken = result.counts.get("square", 0)
    return {
        "before": 100.0 * (result.counts["robust"] + broken) / result.n_images,
        "broken": broken,
        "after": result.accuracy,
        "warns": broken > SQUARE_WARNING_SHARE * result.n_images,
    }


def _gradient_attacks(results: Mapping) -> str:
    for result in results.values():
        names = [a.upper() for a in result.attacks if a != "square"]
        if names:
            return ", ".join(names[:-1]) + " and " + names[-1] if len(names) > 1 else names[0]
    return "the gradient attacks"


def square_rows(results: Mapping) -> list[dict]:
    """One table row per model of ``{name: fh.autoattack result}``: :func:`square_findings`."""
    rows = []
    for name, result in results.items():
        found = square_findings(result)
        rows.append(
            {
                "model": name,
                "after the gradient attacks %": found["before"],
                "broken by Square": found["broken"],
                "after Square %": found["after"],
                "reference warns": "yes" if found["warns"] else "no",
            }
        )
    return rows


def square_verdict(results: Mapping, *, steps: int, queries: int) -> str:
    """What Square found after the gradient attacks of AutoAttack (``results``: ``{name:
    fh.autoattack result}``, run with ``steps`` iterations and ``queries`` Square queries), and
    what the reference implementation says when it finds something: the evaluation may be
    unreliable."""
    gradient = _gradient_attacks(results)
    findings = {name: square_findings(result) for name, result in results.items()}
    warned = [name for name, found in findings.items() if found["warns"]]
    tolerated = [name for name, found in findings.items() if found["broken"] and not found["warns"]]
    n_of = {name: results[name].n_images for name in results}
    tolerated_text = (
        " Square also broke "
        + ", ".join(f"{findings[n]['broken']} of `{n}`'s {n_of[n]} images" for n in tolerated)
        + f", within the {100 * SQUARE_WARNING_SHARE:g}% of the images the reference tolerates."
        if tolerated
        else ""
    )
    if not warned:
        if tolerated:
            return (
                f"Square found little that {gradient} had missed: no model crosses the "
                "threshold of the reference implementation's check." + tolerated_text
            )
        return (
            f"Square broke no image that {gradient} had left standing: the reference "
            "implementation's check (`check_square_sr`) passes. That is no proof of robustness, "
            "only the absence of this warning sign."
        )
    one = len(warned) == 1
    weak = f"{steps} iterations" + (", the reference runs 100" if steps < 100 else "")
    queries_text = f"{queries:,} queries" + (", the reference runs 5,000" if queries < 5000 else "")
    return (
        f"In this run Square, which reads only the model's outputs ({queries_text}), broke "
        f"images that {gradient} had left standing: "
        + ", ".join(
            f"`{name}` {findings[name]['broken']} of {n_of[name]} images "
            f"({findings[name]['before'] - findings[name]['after']:.1f} points)"
            for name in warned
        )
        + ". The reference implementation of AutoAttack (fra31/auto-attack) checks for exactly "
        "this after every run (`check_square_sr`): when Square lowers the robust accuracy by "
        f"more than {100 * SQUARE_WARNING_SHARE:g}% of the images, it warns that the evaluation "
        "may be unreliable and recommends running Square with more queries and restarts, or "
        f"an adaptive attack. It would warn for {'this model' if one else 'each of these models'}. "
        "A gradient-free attack beating the gradient attacks means they missed adversarial "
        "images that exist: on those images the gradients mislead them (gradient masking or "
        f"obfuscation), or the gradient attacks as run here are too weak ({weak}). This run "
        f"does not tell the two apart. Either way {'its' if one else 'their'} AutoAttack "
        f"figure{'' if one else 's'} may be optimistic: a longer Square run or an attack "
        f"adapted to {'the model' if one else 'each model'} may break more images." + tolerated_text
    )


def leaderboard_rows(
    results: Mapping, source: str = "this run", code: str = "torchattacks"
) -> list[dict]:
    """AutoAttack's whole MNIST leaderboard (:data:`LEADERBOARD`) and ours (``{name: result}``,
    each an ``fh.autoattack`` result or anything with its ``accuracy``, ``clean_accuracy`` and
    ``n_images``) in one table, highest AutoAttack figure first: clean and AutoAttack accuracy
    (percent), the 95% Wilson interval of the latter on its number of images, and which
    implementation measured it. ``source`` says where ours come from ("this run", "robustness
    study"); ``code`` which implementation ran them."""
    rows = [
        {
            "defence": row["defence"],
            "model": row["model"],
            "attack code": "reference",
            "images": LEADERBOARD_IMAGES,
            "clean %": row["clean"],
            "AutoAttack %": row["autoattack"],
            "95% interval": _interval_range(row["autoattack"], LEADERBOARD_IMAGES, 2),
        }
        for row in LEADERBOARD
    ]
    rows += [
        {
            "defence": f"{name} (ours)",
            "model": source,
            "attack code": code,
            "images": result.n_images,
            "clean %": result.clean_accuracy,
            "AutoAttack %": result.accuracy,
            "95% interval": _interval_range(result.accuracy, result.n_images, 2),
        }
        for name, result in results.items()
    ]
    return sorted(rows, key=lambda row: -row["AutoAttack %"])


def leaderboard_place(accuracy: float, n: int) -> dict[str, list[str]]:
    """Where an AutoAttack accuracy (percent, on ``n`` images) stands on :data:`LEADERBOARD`:
    the defences whose figure is ``"higher"`` or ``"lower"`` with the 95% intervals apart, and
    those ``"not distinguishable"`` from it (overlapping intervals)."""
    place: dict[str, list[str]] = {"higher": [], "not distinguishable": [], "lower": []}
    for row in LEADERBOARD:
        theirs = (row["autoattack"], LEADERBOARD_IMAGES)
        if not distinguishable(theirs, (accuracy, n)):
            place["not distinguishable"].append(row["defence"])
        elif row["autoattack"] > accuracy:
            place["higher"].append(row["defence"])
        else:
            place["lower"].append(row["defence"])
    return place


def describe_leaderboard_place(name: str, accuracy: float, n: int) -> str:
    """:func:`leaderboard_place` as Markdown, one line per group: a rank only where the 95%
    intervals separate."""
    place = leaderboard_place(accuracy, n)
    figure = {row["defence"]: row["autoattack"] for row in LEADERBOARD}
    low, high = accuracy_interval(accuracy, n)
    lines = [
        f"Beside the leaderboard, `{name}` at {accuracy:.1f}% (95% interval {low:.1f}-{high:.1f} "
        f"on {n:,} images) is"
    ]
    for group, words in (
        ("higher", "below, intervals apart"),
        ("not distinguishable", "not distinguishable from"),
        ("lower", "above, intervals apart"),
    ):
        if place[group]:
            listed = ", ".join(f"{defence} {figure[defence]:.2f}%" for defence in place[group])
            lines.append(f"- {words}: {listed}")
    return "\n".join(lines)


def autoattack_verdicts(
    results: Mapping,
    fgsm_same: Mapping[str, float],
    n_same: int,
    eps: float,
) -> str:
    """The series under AutoAttack (``{name: fh.autoattack result}``), with 95% intervals:
    which models keep more than half their images (the whole interval above 50%), which keep
    fewer, which the images cannot decide; and for which FGSM's figure (``fgsm_same``: FGSM
    accuracy on the first ``n_same`` images) lies above AutoAttack's on the same images,
    intervals apart."""
    groups: dict[str, list[str]] = {"hold": [], "fall": [], "undecided": []}
    for name, result in results.items():
        low, high = accuracy_interval(result.accuracy, result.n_images)
        group = "hold" if low > 50 else "fall" if high < 50 else "undecided"
        groups[group].append(f"`{name}` {with_interval(result.accuracy, result.n_images)}")
    flattered = []
    for name, fgsm_acc in fgsm_same.items():
        aa = accuracy_on_first(results[name], n_same)
        if fgsm_acc > aa and distinguishable((fgsm_acc, n_same), (aa, n_same)):
            flattered.append(
                f"`{name}` (FGSM {with_interval(fgsm_acc, n_same)}, AutoAttack "
                f"{with_interval(aa, n_same)})"
            )
    lines = [
        f"**Hold** at eps {eps:g} under AutoAttack (more than half the images survive, the "
        f"whole 95% interval above 50%): {', '.join(groups['hold']) or 'none'}.",
        f"**Fall** (fewer than half survive, the whole interval below 50%): "
        f"{', '.join(groups['fall']) or 'none'}.",
    ]
    if groups["undecided"]:
        lines.append(
            f"**Undecided** on these images (the interval spans 50%): "
            f"{', '.join(groups['undecided'])}."
        )
    lines.append(
        f"**FGSM flatters** (on the same first {n_same} test images FGSM's figure lies above "
        f"AutoAttack's, intervals apart): {', '.join(flattered) or 'none'}."
    )
    return "\n\n".join(lines)


def describe_best(results: Mapping) -> str:
    """The highest AutoAttack figure of ``{name: fh.autoattack result}`` and how every other
    model compares with it. Results on the same images (each with ``broken_by``) are compared
    image by image (exact McNemar test), which is far stronger than comparing intervals; others
    by their 95% intervals."""
    best = max(results, key=lambda name: results[name].accuracy)
    top = results[best]
    text = (
        f"The highest figure of the series is `{best}`'s: {with_interval(top.accuracy, top.n_images)} "
        f"under AutoAttack on the first {top.n_images} test images"
    )
    below, close = [], []
    for name, r in results.items():
        if name == best:
            continue
        figure = f"`{name}` {with_interval(r.accuracy, r.n_images)}"
        paired_ok = (
            r.n_images == top.n_images
            and getattr(r, "broken_by", None) is not None
            and getattr(top, "broken_by", None) is not None
        )
        if paired_ok:
            only_best = sum(a is None and b is not None for a, b in zip(top.broken_by, r.broken_by))
            only_other = sum(
                a is not None and b is None for a, b in zip(top.broken_by, r.broken_by)
            )
            p = mcnemar_exact(only_best, only_other)
            detail = (
                f"{figure} ({only_best} images kept by `{best}` only, {only_other} by `{name}` "
                f"only: exact McNemar test p = {p:.2g})"
            )
            (below if p < 0.05 else close).append(detail)
        elif distinguishable((r.accuracy, r.n_images), (top.accuracy, top.n_images)):
            below.append(f"{figure} (intervals apart)")
        else:
            close.append(f"{figure} (intervals overlap)")
    parts = []
    if below:
        parts.append(f"below it, a difference at the 5% level: {', '.join(below)}")
    if close:
        parts.append(f"not distinguishable from it: {', '.join(close)}")
    return text + "; " + "; ".join(parts) + "."
