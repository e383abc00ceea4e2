"""Accuracy and robustness curves, batched over in-memory tensors."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib.metadata import version as installed_version

import torch
from torch import nn

from .attacks import (
    check_count,
    check_images,
    check_labels,
    deepfool,
    eval_mode,
    fgsm_direction,
    loss_gradient,
    num_classes,
    perturb,
    pgd,
    to_pixel_eps,
)
from .progress import progress_bar
from .results import add_records, make_record, set_section
from .stats import distinguishable, interval_text

Attack = Callable[[nn.Module, torch.Tensor, torch.Tensor, float], torch.Tensor]


def predict(model: nn.Module, x: torch.Tensor, batch_size: int = 100) -> torch.Tensor:
    """Predicted class of every image, computed in eval mode without gradients."""
    check_images(x)
    with eval_mode(model), torch.no_grad():
        return torch.cat(
            [model(x[i : i + batch_size]).argmax(dim=1) for i in range(0, len(x), batch_size)]
        )


def predict_proba(model: nn.Module, x: torch.Tensor, batch_size: int = 100) -> torch.Tensor:
    """Softmax probabilities (N, classes), in eval mode without gradients."""
    check_images(x)
    with eval_mode(model), torch.no_grad():
        return torch.cat(
            [model(x[i : i + batch_size]).softmax(dim=1) for i in range(0, len(x), batch_size)]
        )


def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 100) -> float:
    """Clean accuracy in percent.

    >>> accuracy(model, x_test, y_test)   # e.g. 98.9
    """
    check_images(x)
    check_labels(y, len(x), num_classes(model, x))
    predictions = predict(model, x, batch_size)
    return 100.0 * (predictions == y.to(predictions.device)).sum().item() / len(y)


def robustness_curve(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    eps_list: Sequence[float],
    attack: str | Attack = "fgsm",
    *,
    eps_units: str = "pixel",
    labels: str = "true",
    batch_size: int = 100,  # measured fastest on a 2-core CPU (benchmarks/bench_eps_sweep.py)
    progress: bool = False,
    **attack_kwargs,
) -> dict[float, float]:
    """Accuracy (percent) under ``attack`` for every eps in ``eps_list``: ``{eps: accuracy}``.

    ``attack``: ``"fgsm"``, ``"pgd"`` (``attack_kwargs`` go to ``pgd``, which stops early on
    fooled images unless ``stop_early=False``; eps and alpha in pixel units), or any callable
    ``attack(model, x, y, eps)`` returning adversarial images. For FGSM the input gradient's
    sign is computed once per batch and reused for every eps: FGSM's direction does not depend
    on eps, so the numbers equal a per-eps recomputation at a fraction of the cost.
    ``labels="predicted"`` makes the attack use the model's predictions instead of the true
    labels (no label leaking); accuracy is always measured against the true labels.
    """
    check_images(x)
    check_labels(y, len(x), num_classes(model, x))
    if len(eps_list) == 0:
        raise ValueError("eps_list must hold at least one eps")
    pixel_eps = [to_pixel_eps(eps, eps_units) for eps in eps_list]
    if attack == "fgsm" and attack_kwargs:
        raise TypeError(f"FGSM takes no extra arguments; got {sorted(attack_kwargs)}")
    if labels not in ("true", "predicted"):
        raise ValueError(f"labels must be 'true' or 'predicted'; got {labels!r}")
    if isinstance(attack, str) and attack not in ("fgsm", "pgd"):
        raise ValueError(f"attack must be 'fgsm', 'pgd' or a callable; got {attack!r}")
    correct = torch.zeros(len(eps_list), dtype=torch.long)
    batches = range(0, len(x), batch_size)
    if progress:
        batches = progress_bar(
            batches,
            total=len(batches),
            desc=f"{attack if isinstance(attack, str) else 'attack'} sweep",
            unit="batch",
        )
    with eval_mode(model):
        for start in batches:
            x_batch, y_batch = x[start : start + batch_size], y[start : start + batch_size]
            y_batch = y_batch.to(x_batch.device)
            y_attack = y_batch if labels == "true" else predict(model, x_batch)
            if attack == "fgsm":
                correct += _fgsm_hits(model, x_batch, y_batch, y_attack, pixel_eps)
                continue
            for index, eps in enumerate(pixel_eps):
                if attack == "pgd":
                    x_adv = pgd(
                        model,
                        x_batch,
                        y_attack,
                        eps,
                        **{"stop_early": labels == "true", **attack_kwargs},
                    )
                else:
                    x_adv = attack(model, x_batch, y_attack, eps, **attack_kwargs)
                with torch.inference_mode():
                    hits = model(x_adv).argmax(dim=1) == y_batch
                correct[index] += hits.sum().item()
    return {float(eps): 100.0 * correct[i].item() / len(x) for i, eps in enumerate(eps_list)}


_IMAGES_PER_FORWARD = 800  # several eps share one forward pass up to this many images


def _fgsm_hits(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    y_attack: torch.Tensor,
    pixel_eps: list[float],
) -> torch.Tensor:
    """Correct predictions per eps under FGSM, for one batch whose inputs are already checked.

    One forward and backward for the gradient sign, then the adversarial images of several
    eps go through the model together (``clamp(x + eps * sign, 0, 1)``, exactly what
    ``fgsm`` returns), which keeps the weights in cache across eps.
    """
    direction = loss_gradient(model, x, y_attack).sign()
    per_forward = max(1, _IMAGES_PER_FORWARD // len(x))
    hits = []
    for first in range(0, len(pixel_eps), per_forward):
        group = pixel_eps[first : first + per_forward]
        steps = torch.tensor(group, dtype=x.dtype, device=x.device).view(-1, *([1] * x.dim()))
        x_adv = (x.detach().unsqueeze(0) + steps * direction.unsqueeze(0)).clamp_(0.0, 1.0)
        with torch.inference_mode():
            predicted = model(x_adv.flatten(0, 1)).argmax(dim=1).view(len(group), len(x))
        hits.append((predicted == y).sum(dim=1).cpu())
    return torch.cat(hits)


def flip_matrix(
    model: nn.Module, x_adv: torch.Tensor, y: torch.Tensor, num_classes: int = 10
) -> torch.Tensor:
    """Counts (true class, predicted class) on attacked images: row = truth, column = prediction."""
    check_labels(y, len(x_adv), num_classes)
    predictions = predict(model, x_adv).cpu()
    index = y.cpu().long() * num_classes + predictions
    return torch.bincount(index, minlength=num_classes * num_classes).view(num_classes, num_classes)


def transfer_accuracy(
    source: nn.Module,
    target: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    eps_list: Sequence[float],
    attack: str = "fgsm",
    batch_size: int = 200,
    **attack_kwargs,
) -> dict[float, float]:
    """Accuracy (percent) of ``target`` on adversarial images crafted against ``source``
    (a black-box transfer attack): ``{eps: accuracy}``."""

    def crafted_on_source(model, x_batch, y_batch, eps):
        if attack == "fgsm":
            return perturb(x_batch, fgsm_direction(source, x_batch, y_batch), eps)
        if attack == "pgd":
            return pgd(source, x_batch, y_batch, eps, **attack_kwargs)
        raise ValueError(f"attack must be 'fgsm' or 'pgd'; got {attack!r}")

    return robustness_curve(target, x, y, eps_list, attack=crafted_on_source, batch_size=batch_size)


def pgd_accuracy(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    eps: float,
    *,
    steps: int = 50,
    alpha: float | None = None,
    restarts: int = 1,
    seed: int = 0,
    batch_size: int = 200,
    progress: bool = False,
) -> float:
    """Accuracy (percent) under PGD at one eps (pixel units), from seeded random starts.

    >>> pgd_accuracy(model, x_test, y_test, 0.3, steps=50, alpha=0.01)   # PGD-50, step 0.01
    """
    generator = torch.Generator(device=x.device).manual_seed(seed)
    return robustness_curve(
        model,
        x,
        y,
        [eps],
        attack="pgd",
        steps=steps,
        alpha=alpha,
        restarts=restarts,
        generator=generator,
        batch_size=batch_size,
        progress=progress,
    )[float(eps)]


def held_out_scores(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    eps: float,
    *,
    pgd_steps: int = 20,
    seed: int = 0,
) -> dict[str, float]:
    """For early stopping: PGD accuracy (``"score"``) and FGSM accuracy on held-out images.
    FGSM accuracy alone would hide catastrophic overfitting; PGD accuracy shows it."""
    return {
        "score": pgd_accuracy(model, x, y, eps, steps=pgd_steps, seed=seed),
        "fgsm": robustness_curve(model, x, y, [eps])[float(eps)],
    }


def deepfool_summary(
    model: nn.Module, x: torch.Tensor, steps: int = 50, overshoot: float = 0.02
) -> tuple[dict[str, float], torch.Tensor]:
    """DeepFool on ``x``: (share fooled, median L2 and L-infinity sizes of the successful
    perturbations) and the L2 sizes themselves."""
    x_adv, fooled = deepfool(model, x, steps=steps, overshoot=overshoot)
    delta = (x_adv - x).flatten(1)
    l2 = delta.norm(dim=1)[fooled].cpu()
    linf = delta.abs().max(dim=1).values[fooled].cpu()
    stats = {
        "fooled %": 100.0 * fooled.float().mean().item(),
        "median L2": l2.median().item() if len(l2) else float("nan"),
        "median Linf": linf.median().item() if len(linf) else float("nan"),
    }
    return stats, l2


# ------------------------------------------------- measured, recorded and tabulated (chapter 05)


def target_measure(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    eps: float,
    *,
    steps: int,
    alpha: float,
    restarts: int,
    n_single: int | None = None,
    n_restart: int | None = None,
    seed: int = 0,
    progress: bool = False,
    results_path=None,
    name: str | None = None,
) -> dict:
    """Clean accuracy on all of ``x``, and PGD accuracy at ``eps`` (pixel units; ``steps`` of
    ``alpha`` from seeded random starts) on the first ``n_single`` images once and on the first
    ``n_restart`` with ``restarts`` restarts (robust only if every restart fails); ``None``:
    all images. Returns ``{"clean", "n_clean", "pgd", "n_pgd", "pgd_restarts",
    "n_restarts"}``, accuracies in percent. With ``results_path`` the three are recorded
    under the model's ``name``.

    >>> target_measure(model, x_test, y_test, 0.3, steps=50, alpha=0.01, restarts=5)["pgd"]
    """
    n_single = len(x) if n_single is None else min(n_single, len(x))
    n_restart = len(x) if n_restart is None else min(n_restart, len(x))
    measured = {"clean": accuracy(model, x, y), "n_clean": len(x)}
    measured.update(n_pgd=n_single, n_restarts=n_restart)
    for key, n, tries in (("pgd", n_single, 1), ("pgd_restarts", n_restart, restarts)):
        measured[key] = pgd_accuracy(
            model,
            x[:n],
            y[:n],
            eps,
            steps=steps,
            alpha=alpha,
            restarts=tries,
            seed=seed,
            progress=progress,
        )
    if results_path is not None:
        if name is None:
            raise ValueError("name the model whose numbers are recorded (name=...)")
        pgd_fields = {"steps": steps, "alpha": alpha, "labels": "true"}
        add_records(
            results_path,
            [
                make_record(name, "none", 0.0, measured["clean"], n_images=len(x)),
                make_record(
                    name, "pgd", eps, measured["pgd"], n_images=n_single, restarts=1, **pgd_fields
                ),
                make_record(
                    name,
                    "pgd",
                    eps,
                    measured["pgd_restarts"],
                    n_images=n_restart,
                    restarts=restarts,
                    **pgd_fields,
                ),
            ],
        )
    return measured


def target_table(
    measured: Mapping[str, dict], train_seconds: Mapping[str, float], steps: int, restarts: int
) -> list[dict]:
    """Rows for :func:`fgsm_helpers.plots.format_table` from ``{model: target_measure(...)}``:
    training seconds, clean accuracy, and each PGD accuracy with its 95% Wilson interval and
    the number of images it was measured on."""
    rows = []
    for name, m in measured.items():
        rows.append(
            {
                "model": name,
                "train s": float(train_seconds[name]),
                "clean %": m["clean"],
                f"PGD-{steps} % (95% interval)": interval_text(m["pgd"], m["n_pgd"]),
                "images": m["n_pgd"],
                f"PGD-{steps}x{restarts} % (95% interval)": interval_text(
                    m["pgd_restarts"], m["n_restarts"]
                ),
                "images ": m["n_restarts"],
            }
        )
    return rows


def curve_comparison(
    first: tuple[str, Mapping[float, float]],
    second: tuple[str, Mapping[float, float]],
    n_images: int,
) -> list[dict]:
    """Two accuracy curves ``(name, {eps: accuracy})`` measured on the same ``n_images``
    images, row by row: each accuracy with its 95% Wilson interval, the difference (second
    minus first, in points) and whether the intervals tell the two apart."""
    (first_name, first_curve), (second_name, second_curve) = first, second
    rows = []
    for eps in first_curve:
        a, b = first_curve[eps], second_curve[eps]
        rows.append(
            {
                "eps": eps,
                f"{first_name} %": interval_text(a, n_images),
                f"{second_name} %": interval_text(b, n_images),
                "difference": b - a,
                "intervals": "distinguishable"
                if distinguishable((a, n_images), (b, n_images))
                else "not distinguishable",
            }
        )
    return rows


def transfer_table(
    source: nn.Module,
    targets: Mapping[str, nn.Module],
    x: torch.Tensor,
    y: torch.Tensor,
    eps: float,
    *,
    pgd_steps: int = 20,
    seed: int = 0,
    source_name: str = "baseline",
    results_path=None,
) -> list[dict]:
    """Each target's accuracy (percent) on FGSM and on PGD images (``pgd_steps`` steps of
    2.5 * eps / steps from a seeded random start) crafted on ``source`` at ``eps``: one row per
    target and attack, with ``"accuracy"``, ``"images"`` and the accuracy with its 95% Wilson
    interval; recorded as ``transfer_fgsm`` / ``transfer_pgd`` with ``results_path``."""
    rows, records = [], []
    for target_name, target in targets.items():
        for attack in ("fgsm", "pgd"):
            kwargs = {}
            if attack == "pgd":
                generator = torch.Generator(device=x.device).manual_seed(seed)
                kwargs = {"steps": pgd_steps, "generator": generator}
            value = transfer_accuracy(source, target, x, y, [eps], attack=attack, **kwargs)[
                float(eps)
            ]
            extra = {"steps": pgd_steps} if attack == "pgd" else {}
            records.append(
                make_record(
                    target_name,
                    f"transfer_{attack}",
                    eps,
                    value,
                    n_images=len(x),
                    source_model=source_name,
                    labels="true",
                    **extra,
                )
            )
            rows.append(
                {
                    "target": target_name,
                    f"crafted on {source_name} with": attack.upper()
                    + (f"-{pgd_steps}" if attack == "pgd" else ""),
                    "attack": attack,
                    "accuracy": value,
                    "images": len(x),
                    f"accuracy at eps {eps:g} % (95% interval)": interval_text(value, len(x)),
                }
            )
    if results_path is not None:
        add_records(results_path, records)
    return rows


def deepfool_table(
    models: Mapping[str, nn.Module],
    x: torch.Tensor,
    *,
    steps: int = 50,
    overshoot: float = 0.02,
    results_path=None,
) -> tuple[list[dict], dict[str, torch.Tensor]]:
    """DeepFool on ``x`` for every model: one row each with the images tried, how many it did
    *not* flip within ``steps`` iterations, and the median L2 and L-infinity sizes of the
    perturbations that did flip the label (the failures are left out of the medians, so the
    count says how much is left out). Each size is an upper bound on the smallest perturbation
    that flips that image: DeepFool follows a linearization, and a smaller one may exist.
    Returns ``(rows, {model: L2 sizes of the flipped images})``; with ``results_path`` each
    row is saved in the ``"deepfool"`` section."""
    rows, sizes = [], {}
    for name, model in models.items():
        summary, sizes[name] = deepfool_summary(model, x, steps=steps, overshoot=overshoot)
        flipped = len(sizes[name])
        row = {
            "model": name,
            "images": len(x),
            "not flipped": len(x) - flipped,
            "median L2 of the flipped": summary["median L2"],
            "median Linf of the flipped": summary["median Linf"],
        }
        rows.append(row)
        if results_path is not None:
            set_section(
                results_path,
                "deepfool",
                name,
                {**summary, **row, "n_images": len(x), "steps": steps, "overshoot": overshoot},
            )
    return rows, sizes


def torchattacks_pgd_accuracy(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    eps: float,
    *,
    steps: int,
    alpha: float,
    seed: int = 0,
    batch_size: int = 200,
    results_path=None,
    name: str | None = None,
) -> float | None:
    """Accuracy (percent) under torchattacks' independent PGD (random start; eps and alpha in
    pixel units), a second opinion on :func:`pgd_accuracy`; ``None`` when torchattacks is not
    installed. Recorded (``implementation="torchattacks"``) with ``results_path`` and ``name``.
    """
    try:
        import torchattacks
    except ImportError:
        return None
    attack = torchattacks.PGD(model, eps=eps, alpha=alpha, steps=steps, random_start=True)
    on_cpu = x.device.type == "cpu"
    with torch.random.fork_rng(devices=[] if on_cpu else [x.device], device_type=x.device.type):
        torch.manual_seed(seed)  # torchattacks draws its random start from the global stream
        x_adv = torch.cat(
            [
                attack(x[i : i + batch_size], y[i : i + batch_size])
                for i in range(0, len(x), batch_size)
            ]
        )
    value = accuracy(model, x_adv, y)
    if results_path is not None:
        if name is None:
            raise ValueError("name the model whose number is recorded (name=...)")
        add_records(
            results_path,
            [
                make_record(
                    name,
                    "pgd",
                    eps,
                    value,
                    n_images=len(x),
                    steps=steps,
                    restarts=1,
                    alpha=alpha,
                    labels="true",
                    implementation="torchattacks",
                    version=installed_version("torchattacks"),
                )
            ],
        )
    return value


# ------------------------------------------------------------------------------ AutoAttack
AUTOATTACK_VERSIONS = ("standard", "plus", "rand")


@dataclass
class AutoAttackResult:
    """What ``autoattack`` measured: accuracies in percent, and per image which attack won.

    ``broken_by[i]`` is ``"clean"`` when image ``i`` was misclassified before any attack, the
    name of the first attack of the ensemble that fooled it (e.g. ``"apgd-ce"``), or ``None``
    when it withstood them all. ``counts`` holds how many images each of those labels got
    (``"robust"`` for ``None``), in ensemble order; they add up to ``n_images``. ``seconds``
    is the wall time of each attack; ``x_adv`` the adversarial images (the clean image where
    no attack succeeded), within ``eps`` of the inputs in L-infinity.
    """

    accuracy: float
    clean_accuracy: float
    n_images: int
    eps: float
    version: str
    steps: int | None  # iterations of APGD and FAB (None when eps = 0 ran no attack)
    attacks: tuple[str, ...]
    broken_by: list[str | None]
    counts: dict[str, int]
    seconds: dict[str, float]
    x_adv: torch.Tensor = field(repr=False)

    def record(self, model: str, **extra) -> dict:
        """A ``results.json`` record of this measurement (``fh.results.add_records`` saves it).

        >>> fh.results.add_records("results.json", [result.record("pgd_at_smallcnn")])
        """
        return make_record(
            model,
            "autoattack",
            self.eps,
            self.accuracy,
            eps_units="pixel",
            n_images=self.n_images,
            version=self.version,
            steps=self.steps,
            clean_accuracy=round(self.clean_accuracy, 4),
            broken_by=dict(self.counts),
            implementation=f"torchattacks {installed_version('torchattacks')}",
            **extra,
        )


def _autoattack_name(attack) -> str:
    """AutoAttack's own name for one of torchattacks' sub-attacks ("apgd-ce", "fab-t", ...)."""
    kind = type(attack).__name__
    if kind == "APGD":
        return f"apgd-{attack.loss}"
    if kind == "APGDT":
        return "apgd-t"
    if kind == "FAB":
        return "fab-t" if attack.multi_targeted else "fab"
    if kind == "Square":
        return "square"
    raise RuntimeError(f"unexpected attack {kind} in torchattacks' AutoAttack")


def _autoattack_ensemble(
    model: nn.Module,
    eps: float,
    version: str,
    n_classes: int,
    seed: int,
    steps: int | None,
    queries: int | None = None,
) -> list[tuple[str, object]]:
    """The sub-attacks of torchattacks' ``AutoAttack`` for ``version``, in its order and with
    its settings (``steps``, when given, replaces the iteration count of the APGD and FAB
    attacks)."""
    import torchattacks

    ensemble = torchattacks.AutoAttack(
        model, norm="Linf", eps=eps, version=version, n_classes=n_classes, seed=seed
    )
    multi_attack = getattr(ensemble, "_autoattack", None)
    if multi_attack is None:  # torchattacks is pinned below 3.4, whose layout this reads
        raise RuntimeError("this torchattacks version does not expose AutoAttack's sub-attacks")
    attacks = []
    for attack in multi_attack.attacks:
        if steps is not None and hasattr(attack, "steps"):
            attack.steps = steps
        if queries is not None and hasattr(attack, "n_queries"):
            attack.n_queries = queries
        attacks.append((_autoattack_name(attack), attack))
    return attacks


def autoattack(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    eps: float,
    *,
    version: str = "standard",
    steps: int | None = 100,
    queries: int | None = None,
    batch_size: int = 250,
    seed: int = 0,
    device: str | torch.device | None = None,
    progress: bool = True,
) -> AutoAttackResult:
    """Robust accuracy under AutoAttack (Croce & Hein 2020), L-infinity, ``eps`` in pixel units.

    AutoAttack runs an ensemble of parameter-free attacks one after the other, each on the
    images the previous ones could not fool; ``version="standard"``: APGD-CE (cross-entropy),
    APGD-T (targeted DLR loss, 9 target classes), FAB-T (a search for the smallest
    perturbation, 9 targets) and Square (5,000 queries of a gradient-free random search). The attacks are torchattacks'
    (its ``AutoAttack`` class, whose ensemble this runs in the same order with the same
    settings and seed), run here one by one to record which attack broke which image.
    ``steps``: iterations of APGD and FAB; 100 as in the reference implementation and the
    AutoAttack leaderboard. ``None`` keeps torchattacks' default of 10, which is what
    ``torchattacks.AutoAttack`` itself runs (same images, same result), 5 to 10 times cheaper
    and weaker. ``queries``: Square's number of queries (None keeps AutoAttack's 5,000; fewer
    only for a quick check, it weakens the ensemble). ``version``: also ``"plus"`` (more
    restarts and attacks) or ``"rand"`` (for randomized defences).

    Images go through in batches of ``batch_size``; every attack reseeds torch's generator
    with ``seed`` for each batch (as torchattacks does), so results depend on the batch size
    but not on anything run before; the caller's random state is restored afterwards.
    ``eps=0`` runs no attack and returns the clean accuracy. ``device``: where to run (the
    model is moved there); by default the model's device.

    >>> result = autoattack(model, x_test[:1000], y_test[:1000], eps=0.3)
    >>> result.accuracy, result.counts   # e.g. 87.0, {"clean": 8, "apgd-ce": 115, ...}
    """
    if version not in AUTOATTACK_VERSIONS:
        raise ValueError(f"version must be one of {AUTOATTACK_VERSIONS}; got {version!r}")
    if steps is not None:
        check_count(steps, "steps")
    if queries is not None:
        check_count(queries, "queries")
    check_count(batch_size, "batch_size")
    pixel_eps = to_pixel_eps(eps)
    check_images(x)
    check_labels(y, len(x))
    if device is not None:
        model.to(device)
    device = next(model.parameters()).device
    x = x.detach().to(device)
    classes = num_classes(model, x)
    check_labels(y, len(x), classes)
    y = y.to(device).long()

    attacks = (
        _autoattack_ensemble(model, pixel_eps, version, classes, seed, steps, queries)
        if pixel_eps > 0
        else []
    )
    names = tuple(name for name, _ in attacks)
    effective_steps = steps if steps is not None or not attacks else attacks[0][1].steps
    broken_by: list[str | None] = [None] * len(x)
    seconds = dict.fromkeys(names, 0.0)
    x_adv = x.clone()
    batches = range(0, len(x), batch_size)
    if progress and attacks:
        batches = progress_bar(
            batches, total=len(batches), desc=f"AutoAttack ({version})", unit="batch"
        )
    parameters = [p for p in model.parameters() if p.requires_grad]
    # The accelerator's random state is restored too (not only the CPU's).
    rng_devices = [] if device.type == "cpu" else [device.index or 0]
    # FAB calls backward(): frozen parameters keep their .grad untouched (and skip the work).
    restore_rng = torch.random.fork_rng(devices=rng_devices, device_type=device.type)
    with eval_mode(model), restore_rng:
        try:
            for parameter in parameters:
                parameter.requires_grad_(False)
            for start in batches:
                x_batch, y_batch = x[start : start + batch_size], y[start : start + batch_size]
                with torch.no_grad():
                    standing = (model(x_batch).argmax(dim=1) == y_batch).nonzero().squeeze(1)
                for index in range(len(x_batch)):
                    broken_by[start + index] = "clean"
                for index in standing.tolist():
                    broken_by[start + index] = None
                for name, attack in zip(names, (a for _, a in attacks)):
                    if len(standing) == 0:
                        break
                    began = time.perf_counter()
                    adv = attack(x_batch[standing], y_batch[standing]).detach()
                    with torch.no_grad():
                        fooled = model(adv).argmax(dim=1) != y_batch[standing]
                    seconds[name] += time.perf_counter() - began
                    for index in standing[fooled].tolist():
                        broken_by[start + index] = name
                    x_adv[start + standing[fooled]] = adv[fooled]
                    standing = standing[~fooled]
        finally:
            for parameter in parameters:
                parameter.requires_grad_(True)

    counts = {"clean": broken_by.count("clean")}
    counts.update({name: broken_by.count(name) for name in names})
    counts["robust"] = broken_by.count(None)
    return AutoAttackResult(
        accuracy=100.0 * counts["robust"] / len(x),
        clean_accuracy=100.0 * (len(x) - counts["clean"]) / len(x),
        n_images=len(x),
        eps=pixel_eps,
        version=version,
        steps=effective_steps,
        attacks=names,
        broken_by=broken_by,
        counts=counts,
        seconds=seconds,
        x_adv=x_adv,
    )
