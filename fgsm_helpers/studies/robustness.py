"""The robustness study: AutoAttack on the series' models, over seeds, on many test images.

Chapter 06 runs AutoAttack live on a few hundred test images; this study runs the same attack
(``fh.autoattack``: standard version, 100 iterations, 5,000 Square queries, eps 0.3) where a
chapter cannot afford to:

* the defence (``trades_widecnn``, seed 0) on all 10,000 test images, for a figure that can be
  put beside AutoAttack's leaderboard like for like;
* every other model of the series on the first 1,000;
* the defence trained with seeds 1 and 2 (1,000 images each), so that one seed's luck shows;
* one-step (``fgsm_rs_smallcnn``) against multi-step (``pgd_at_smallcnn``) training, seeds 0-3
  (seeds 1-3 on the first 500 images: with 3 seeds against 3 no exact test can reach p < 0.1);
* the eps ramp ablated (``no_ramp``: full eps from the first batch) for the defence and for
  chapter 05's PGD training (500 images each).

Each run is one model (recipe, seed, variant), trained with the recipe of :mod:`fgsm_helpers.zoo`
(or loaded from ``--checkpoints DIR/KEY/NAME.pt`` when it was saved with the same recipe), then
attacked in chunks of :data:`CHUNK` images, one ``fh.autoattack`` batch each, so the figure is
the one a single call with ``batch_size=CHUNK`` gives. The study file is saved after every
chunk, with which attack broke each image first: an interrupted run resumes at its next chunk.

    fgsm-series robustness --out robustness.json [--runs KEY ...] [--checkpoints DIR]
    fgsm-series robustness --merge a.json b.json --out robustness.json

The committed study ships as ``studies/data/robustness_study.json`` (chapter 06 reads it).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
from dataclasses import dataclass
from pathlib import Path

from ..data import load_mnist
from ..evaluation import accuracy, autoattack
from ..prose import plural
from ..robustness import describe_leaderboard_place
from ..runtime import get_device
from ..stats import (
    accuracy_interval,
    compare_rates,
    count_words,
    describe_difference,
    distinguishable,
    mcnemar_exact,
    rank_sum_exact,
    with_interval,
)
from ..zoo import EPS, VAL_IMAGES, is_robust
from ..zoo import get as get_model
from .state import Study, load, now, run_command, study_parser

CHUNK = 250  # images per AutoAttack batch, and per saved step of the study
#: The letter each image's outcome is stored as, in ensemble order.
OUTCOME_CODES = {
    "clean": "c",
    "apgd-ce": "1",
    "apgd-t": "2",
    "fab-t": "3",
    "square": "4",
    None: ".",
}
#: A variant is a change to a model's recipe (:func:`fgsm_helpers.zoo.recipe` overrides).
VARIANTS = {
    "recipe": ("the recipe as the chapters train it", {}),
    "no_ramp": ("no eps ramp: full eps 0.3 from the first batch", {"eps_ramp_epochs": 0.0}),
}
QUICK = {"train_images": 2000, "epochs": 1, "images": 50, "steps": 5, "queries": 50}


@dataclass(frozen=True)
class Run:
    """One run of the study: a model of the zoo, its seed and variant, and the test images."""

    model: str
    seed: int = 0
    variant: str = "recipe"
    images: int = 1000

    @property
    def key(self) -> str:
        """The run's name: ``trades_widecnn-s0`` (``-no_ramp`` appended for that variant)."""
        suffix = "" if self.variant == "recipe" else f"-{self.variant}"
        return f"{self.model}-s{self.seed}{suffix}"


#: The committed study's runs, in the order ``fgsm-series robustness`` runs them.
PLAN = (
    Run("trades_widecnn", 0, images=10_000),
    Run("baseline"),
    Run("fgsm_at"),
    Run("fgsm_at_normalized"),
    Run("fgsm_rs_smallcnn"),
    Run("trades_widecnn", 1),
    Run("fgsm_rs_smallcnn", 1, images=500),
    Run("fgsm_rs_smallcnn", 2, images=500),
    Run("trades_widecnn", 0, "no_ramp", images=500),
    Run("trades_widecnn", 2),
    Run("pgd_at_smallcnn"),
    Run("pgd_at_smallcnn", 1, images=500),
    Run("pgd_at_smallcnn", 2, images=500),
    Run("pgd_at_smallcnn", 0, "no_ramp", images=500),
    # a fourth seed of each: with 3 against 3 no exact test can reach p < 0.1
    Run("fgsm_rs_smallcnn", 3, images=500),
    Run("pgd_at_smallcnn", 3, images=500),
)
PLAN_KEYS = {run.key: run for run in PLAN}
DESCRIPTION = "AutoAttack (standard) on the series' models, over seeds and on many test images."


def configuration(quick: bool) -> dict:
    """What a study file must agree on to be resumed (or merged): the attack and the data."""
    attack = {"version": "standard", "eps": EPS, "steps": 100, "queries": 5000, "chunk": CHUNK}
    if quick:
        attack.update(steps=QUICK["steps"], queries=QUICK["queries"])
    return {
        "quick": quick,
        "attack": attack,
        "train_images": QUICK["train_images"] if quick else 60_000 - VAL_IMAGES,
        "held_out_images": VAL_IMAGES,
    }


def encode(broken_by) -> str:
    """``fh.autoattack``'s per-image ``broken_by`` as a string, a letter an image."""
    return "".join(OUTCOME_CODES[label] for label in broken_by)


def decode(outcomes: str) -> list[str | None]:
    """The per-image labels of :func:`encode`'s string."""
    labels = {code: label for label, code in OUTCOME_CODES.items()}
    unknown = set(outcomes) - set(labels)
    if unknown:
        raise ValueError(f"unknown outcome codes {sorted(unknown)}; known: {sorted(labels)}")
    return [labels[code] for code in outcomes]


def counts_of(outcomes: str) -> dict[str, int]:
    """How many images each attack broke first (``clean``: misclassified unattacked,
    ``robust``: none did), in ensemble order."""
    counts = {
        ("robust" if label is None else label): outcomes.count(code)
        for label, code in OUTCOME_CODES.items()
    }
    return counts


def robust_accuracy(run: dict, first: int | None = None) -> float:
    """A study run's accuracy under AutoAttack (percent) on its images, or on its ``first``."""
    outcomes = run["outcomes"] if first is None else run["outcomes"][:first]
    if first is not None and first > len(run["outcomes"]):
        raise ValueError(f"first={first} is more than the run's {len(run['outcomes'])} images")
    if not outcomes:
        raise ValueError(f"run {run['key']} has no images attacked yet")
    return 100.0 * outcomes.count(OUTCOME_CODES[None]) / len(outcomes)


def _train_or_load(run: Run, data: dict, checkpoints: Path, device, quick: bool, progress: bool):
    overrides = {"seed": run.seed, **VARIANTS[run.variant][1]}
    if quick:
        overrides["epochs"] = QUICK["epochs"]
    folder = checkpoints / run.key
    folder.mkdir(parents=True, exist_ok=True)
    return get_model(run.model, folder, device=device, progress=progress, **data, **overrides)


def run_one(
    run: Run,
    study: Study,
    data: dict,
    *,
    checkpoints: Path,
    device,
    quick: bool = False,
    progress: bool = True,
) -> dict:
    """Train (or load) ``run``'s model and attack its images chunk by chunk, saving ``study``
    after each chunk; a run already complete is returned as it is."""
    entry = next((r for r in study.runs if r["key"] == run.key), None)
    images = QUICK["images"] if quick else run.images
    if entry is not None and len(entry["outcomes"]) >= images:
        return entry
    trained = _train_or_load(run, data, checkpoints, device, quick, progress)
    model, meta = trained.model, trained.meta
    digest = checkpoint_digest(checkpoints / run.key / f"{run.model}.pt")
    weights = weights_digest(model)
    if entry is not None and entry.get("checkpoint_sha256", digest) != digest:
        raise ValueError(
            f"run {run.key} was started on another model (checkpoint sha256 "
            f"{entry['checkpoint_sha256'][:12]}..., now {digest[:12]}...): a resumed run must "
            "attack the model it started with; put that checkpoint in "
            f"{checkpoints / run.key} or choose another --out"
        )
    if entry is None:
        entry = {
            "key": run.key,
            "model": run.model,
            "seed": run.seed,
            "variant": run.variant,
            "change": VARIANTS[run.variant][0],
            "recipe": meta["recipe"],
            "train_seconds": meta.get("train_seconds"),
            "trained": trained.how,
            "checkpoint_sha256": digest,
            "weights_sha256": weights,
            "clean": accuracy(model, data["x_test"], data["y_test"]),
            "clean_images": len(data["x_test"]),
            "images": images,
            "outcomes": "",
            "seconds": {},
            "date": now(),
        }
        study.runs.append(entry)
        study.save()
    entry.setdefault("checkpoint_sha256", digest)  # runs begun before these fields existed
    entry.setdefault("weights_sha256", weights)
    settings = configuration(quick)["attack"]
    x_test, y_test = data["x_test"], data["y_test"]
    for start in range(len(entry["outcomes"]), images, CHUNK):
        stop = min(start + CHUNK, images)
        result = autoattack(
            model,
            x_test[start:stop],
            y_test[start:stop],
            EPS,
            steps=settings["steps"],
            queries=settings["queries"],
            batch_size=CHUNK,
            progress=False,
        )
        entry["outcomes"] += encode(result.broken_by)
        for name, seconds in result.seconds.items():
            entry["seconds"][name] = round(entry["seconds"].get(name, 0.0) + seconds, 1)
        entry["date"] = now()
        study.save()
        if progress:
            done = len(entry["outcomes"])
            print(
                f"{run.key}: {done:,}/{images:,} images, AutoAttack "
                f"{robust_accuracy(entry):.2f}% so far ({sum(entry['seconds'].values()):.0f} s)",
                flush=True,
            )
    return entry


def checkpoint_digest(path: Path) -> str:
    """The sha256 of a checkpoint file: which model a run attacked."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def run_study(
    out_path,
    *,
    keys=None,
    checkpoints="robustness_checkpoints",
    data_dir=None,
    device="cpu",
    quick: bool = False,
    command: str = "",
    progress: bool = True,
) -> dict:
    """Run (or resume) the study's runs named by ``keys`` (default: all of :data:`PLAN`)."""
    keys = list(keys or PLAN_KEYS)
    unknown = [key for key in keys if key not in PLAN_KEYS]
    if unknown:
        raise ValueError(f"unknown runs {unknown}; known: {list(PLAN_KEYS)}")
    study = Study(
        out_path,
        description=DESCRIPTION,
        command=command,
        configuration=configuration(quick),
        device=device,
        extra={"implementation": _implementation()},
    )
    x_all, y_all = load_mnist("train", data_dir, device=device)
    x_test, y_test = load_mnist("test", data_dir, device=device)
    x_train, y_train = x_all[:-VAL_IMAGES], y_all[:-VAL_IMAGES]
    if quick:
        x_train, y_train = x_train[: QUICK["train_images"]], y_train[: QUICK["train_images"]]
    data = dict(
        x_train=x_train,
        y_train=y_train,
        x_val=x_all[-VAL_IMAGES:],
        y_val=y_all[-VAL_IMAGES:],
        x_test=x_test,
        y_test=y_test,
    )
    for key in keys:
        run_one(
            PLAN_KEYS[key],
            study,
            data,
            checkpoints=Path(checkpoints),
            device=device,
            quick=quick,
            progress=progress,
        )
    return study.data


def _implementation() -> str:
    from importlib.metadata import version

    return f"fgsm_helpers.autoattack over torchattacks {version('torchattacks')}"


def merge(paths, out_path) -> dict:
    """One study from several files made with the same configuration (runs split across
    processes): each run from the file where it has the most images."""
    studies = [json.loads(Path(path).read_text()) for path in paths]
    if not studies:
        raise ValueError("merge needs at least one study file")
    for path, study in zip(paths, studies):
        if study["configuration"] != studies[0]["configuration"]:
            raise ValueError(f"{path} was made with another configuration than {paths[0]}")
    runs: dict[str, dict] = {}
    for study in studies:
        for run in study["runs"]:
            if len(run["outcomes"]) > len(runs.get(run["key"], {"outcomes": ""})["outcomes"]):
                runs[run["key"]] = run
    order = {key: index for index, key in enumerate(PLAN_KEYS)}
    merged = {
        **studies[0],
        "command": "; ".join(dict.fromkeys(study["command"] for study in studies)),
        "machines": [study["machine"] for study in studies],
        "date": now(),
        "runs": sorted(runs.values(), key=lambda run: order.get(run["key"], len(order))),
    }
    Path(out_path).write_text(json.dumps(merged, indent=1) + "\n")
    return merged


def load_study(path=None) -> dict:
    """The committed robustness study (or the one at ``path``)."""
    return load("robustness", path)


def find(study: dict, model: str, seed: int = 0, variant: str = "recipe") -> dict:
    """The study's run of ``model`` with ``seed`` and ``variant``."""
    key = Run(model, seed, variant).key
    for run in study["runs"]:
        if run["key"] == key:
            return run
    raise KeyError(f"the study has no run {key}; it has {[r['key'] for r in study['runs']]}")


def study_rows(study: dict) -> list[dict]:
    """One table row per run: model, seed, variant, clean accuracy (on all its test images),
    AutoAttack accuracy with its 95% Wilson interval, the images it ran on, and how many each
    attack broke first."""
    rows = []
    for run in study["runs"]:
        n = len(run["outcomes"])
        if n == 0:
            continue
        figure = robust_accuracy(run)
        low, high = accuracy_interval(figure, n)
        counts = counts_of(run["outcomes"])
        rows.append(
            {
                "model": run["model"],
                "seed": run["seed"],
                "variant": run["variant"],
                "clean %": run["clean"],
                "AutoAttack %": round(figure, 2),
                "95% interval": f"{low:.1f}-{high:.1f}",
                "images": n,
                **{name: counts[name] for name in ("apgd-ce", "apgd-t", "fab-t", "square")},
            }
        )
    return rows


def paired(a: dict, b: dict, first: int) -> dict:
    """Two study runs on the same first ``first`` test images, image by image: how many each
    keeps (robust) that the other loses, and the exact McNemar p-value of that difference."""
    if min(len(a["outcomes"]), len(b["outcomes"])) < first:
        raise ValueError(f"runs {a['key']} and {b['key']} do not both have {first} images")
    robust = OUTCOME_CODES[None]
    pairs = list(zip(a["outcomes"][:first], b["outcomes"][:first]))
    only_a = sum(x == robust != y for x, y in pairs)
    only_b = sum(y == robust != x for x, y in pairs)
    return {
        "only_first": only_a,
        "only_second": only_b,
        "same": first - only_a - only_b,
        "p_value": mcnemar_exact(only_a, only_b),
    }


def _paired_text(a_name: str, b_name: str, counts: dict) -> str:
    return (
        f"{counts['only_first']:,} images kept by {a_name} only, {counts['only_second']:,} by "
        f"{b_name} only (exact McNemar test on the same images p = {counts['p_value']:.2g})"
    )


def live_check(study_run: dict, live_accuracy: float, n_live: int) -> dict:
    """A live AutoAttack figure on the first ``n_live`` test images beside the study's run of
    the same recipe: the study's figure on those same images and on all of its images, and
    whether each lies inside the live figure's 95% interval."""
    on_same = robust_accuracy(study_run, n_live)
    n_study = len(study_run["outcomes"])
    on_all = robust_accuracy(study_run)
    low, high = accuracy_interval(live_accuracy, n_live)
    return {
        "live": live_accuracy,
        "live_interval": (low, high),
        "n_live": n_live,
        "study_same_images": on_same,
        "study_all": on_all,
        "n_study": n_study,
        "same_images_inside": low <= on_same <= high,
        "all_inside": low <= on_all <= high,
    }


def weights_digest(model) -> str:
    """The sha256 of a model's weights (its state dict's tensors, in order): whether two models
    are the same model, whatever file they were saved in."""
    digest = hashlib.sha256()
    for name, tensor in model.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


# --- what the study shows, for chapter 06 --------------------------------------------------

COLLAPSED_BELOW = 50.0  # AutoAttack accuracy (%) under which a robust recipe's run has failed
DEFENCE = "trades_widecnn"
#: The first 5,000 MNIST test images come from NIST's training set and are, in LeCun's words,
#: "cleaner and easier" than the last 5,000: a figure on the first images need not be the
#: figure on all of them (for the defence's robust accuracy the study shows which way it goes).
EASIER_HALF = 5000


@dataclass(frozen=True)
class Figure:
    """A study run's AutoAttack figure, shaped like ``fh.autoattack``'s result for the tables
    of :mod:`fgsm_helpers.robustness` (``accuracy`` and ``clean_accuracy`` in percent)."""

    accuracy: float
    clean_accuracy: float
    n_images: int


def figure(run: dict, first: int | None = None) -> Figure:
    """The AutoAttack figure of a study run on all its images, or on its ``first``; the clean
    accuracy is the run's on every test image."""
    n = len(run["outcomes"]) if first is None else first
    return Figure(robust_accuracy(run, first), run["clean"], n)


def _images_text(n: int, total: int = 10_000) -> str:
    return f"all {total:,} test images" if n == total else f"the first {n:,} test images"


def describe_defence(study: dict, model: str = DEFENCE) -> str:
    """The defence's figure in the study (seed 0, all the images it ran on) and where it stands
    on AutoAttack's leaderboard, with the ways the two measurements still differ."""
    run = find(study, model)
    shown = figure(run)
    where = _images_text(shown.n_images)
    lines = [
        f"In the robustness study `{model}` (seed 0) keeps "
        f"**{with_interval(shown.accuracy, shown.n_images)}** under AutoAttack on {where} "
        f"({shown.clean_accuracy:.2f}% clean on all 10,000).",
        "",
        describe_leaderboard_place(model, shown.accuracy, shown.n_images),
        "",
    ]
    caveats = [
        "The same threat model and attack settings (standard version, 100 iterations, 5,000 "
        "Square queries)"
        + (
            ", and the same 10,000 images."
            if shown.n_images == 10_000
            else f", but only {shown.n_images:,} of their 10,000 images, and the first "
            f"{EASIER_HALF:,} of MNIST's test set are its cleaner, easier half, so a figure on "
            "the first images need not be the figure on all of them."
        ),
        "What still differs: ours is torchattacks' port of AutoAttack, theirs the reference "
        "implementation (a cell below compares the two on this model), and both sides are "
        "single trained models: this places models, not recipes (the seeds in section 7 show "
        "where other seeds of ours land).",
    ]
    if shown.n_images > 1000:
        later = 100.0 * run["outcomes"][1000:].count(OUTCOME_CODES[None]) / (shown.n_images - 1000)
        caveats.append(
            "The recipe was chosen by AutoAttack on the first 1,000 test images (section 7's "
            f"ablation); on the images after them it keeps "
            f"{with_interval(later, shown.n_images - 1000)}."
        )
    reference = study.get("reference") or {}
    if "check_square_sr" in reference.get("reference_checks_fired", []):
        caveats.append(
            "Both figures are upper bounds, and on this model the reference's own Square check "
            "fired (below)."
        )
    return "\n".join(lines) + "\n" + " ".join(caveats)


#: The ablation study's variants that are a robustness-study recipe, unchanged.
ABLATION_TWINS = {"defence": DEFENCE, "chapter05": "pgd_at_smallcnn"}


def describe_ablation_defence(study: dict, ablation: dict) -> str:
    """The ablation study's variants that are the same recipe as a robustness-study run (the
    defence, and chapter 05's PGD training) beside that run's seed 0: the same seed, trained on
    different machines, so two models each (training rounds differently on each machine);
    their AutoAttack figures on the same first images, compared by their intervals (the
    ablation study kept counts, not per-image outcomes, so no paired test is possible)."""
    machine = study.get("machine", {})
    where = f"a {machine.get('cpu_count', '?')}-core {machine.get('cpu_model', 'CPU')} CPU"
    pairs = []
    for variant, model in ABLATION_TWINS.items():
        theirs = next((row for row in ablation["runs"] if row["variant"] == variant), None)
        if theirs is None:
            continue
        n = theirs["autoattack_images"]
        run = find(study, model)
        if len(run["outcomes"]) < n:
            raise ValueError(
                f"the study's {run['key']} ran on {len(run['outcomes'])} images, not {n}"
            )
        compared = describe_difference((theirs["autoattack"], n), (robust_accuracy(run, n), n))
        pairs.append(
            f"`{model}` (the ablation's on a {theirs['train_device']}, the robustness study's "
            f"on {where}): {compared}"
        )
    if not pairs:
        raise ValueError("the ablation study has none of " + ", ".join(ABLATION_TWINS))
    return (
        "**Two figures for one recipe.** The ablation study and the robustness study trained "
        "the same recipes with the same seed on different machines; training rounds differently "
        "on each, so each pair below is two different models, on the same first "
        f"{n:,} test images: " + "; ".join(pairs) + ". The ablation study kept counts, not "
        "which images each model lost, so only their intervals compare them."
    )


def seed_runs(study: dict, model: str = DEFENCE, first: int = 1000) -> dict[int, dict]:
    """``{seed: run}`` for every seed the study trained ``model`` with (its recipe, not a
    variant) on at least ``first`` images."""
    return {
        run["seed"]: run
        for run in study["runs"]
        if run["model"] == model and run["variant"] == "recipe" and len(run["outcomes"]) >= first
    }


def seed_figures(study: dict, model: str = DEFENCE, first: int = 1000) -> dict[int, float]:
    """``{seed: AutoAttack accuracy on the first images}`` (:func:`seed_runs`)."""
    return {
        seed: robust_accuracy(run, first) for seed, run in seed_runs(study, model, first).items()
    }


def describe_seeds(study: dict, model: str = DEFENCE, first: int = 1000) -> str:
    """The defence trained with each seed, on the same first images: each figure with its
    interval, and each pair of seeds compared image by image (exact McNemar test)."""
    runs = seed_runs(study, model, first)
    if len(runs) < 2:
        raise ValueError(f"the study has {len(runs)} seed of {model} on {first} images")
    figures = {seed: robust_accuracy(run, first) for seed, run in runs.items()}
    listed = ", ".join(
        f"seed {seed} {with_interval(value, first)}" for seed, value in sorted(figures.items())
    )
    comparisons = []
    differ = []
    for s, t in itertools.combinations(sorted(runs), 2):
        counts = paired(runs[s], runs[t], first)
        comparisons.append(f"seeds {s} and {t}: " + _paired_text(f"seed {s}", f"seed {t}", counts))
        if counts["p_value"] < 0.05:
            differ.append(f"{s} and {t}")
    spread = max(figures.values()) - min(figures.values())
    verdict = (
        f"no pair of seeds differs at the 5% level on these images: the {spread:.1f}-point "
        "spread between the seeds is within what chance could give"
        if not differ
        else f"{plural(len(differ), 'pair')} of seeds "
        + ("differs" if len(differ) == 1 else "differ")
        + " at the 5% level ("
        + "; ".join(differ)
        + f"): the training seed alone moves the figure ({spread:.1f} points between the "
        "extremes)"
    )
    mean = sum(figures.values()) / len(figures)
    return (
        f"**The training seed.** The defence trained with {plural(len(runs), 'seed')} ({listed}, "
        f"each on the same first {first:,} test images). Image by image, "
        + "; ".join(comparisons)
        + f": {verdict}. Mean over the seeds {mean:.1f}%; they share the same images, so each "
        "seed's own interval, not a narrower pooled one, is the uncertainty of a figure."
    )


def _listed(figures: dict[int, float], first: int) -> str:
    return ", ".join(
        f"seed {seed} {with_interval(value, first)}" for seed, value in sorted(figures.items())
    )


def _steps_numbers(study: dict, first: int) -> dict:
    one = seed_figures(study, "fgsm_rs_smallcnn", first)
    multi = seed_figures(study, "pgd_at_smallcnn", first)
    if not one or not multi:
        raise ValueError("the study needs runs of fgsm_rs_smallcnn and pgd_at_smallcnn")
    failed_one = sum(v < COLLAPSED_BELOW for v in one.values())
    failed_multi = sum(v < COLLAPSED_BELOW for v in multi.values())
    return {
        "one": one,
        "multi": multi,
        "failed_one": failed_one,
        "failed_multi": failed_multi,
        "fisher": compare_rates(failed_one, len(one), failed_multi, len(multi))["p_value"],
        "rank_sum": rank_sum_exact(list(multi.values()), list(one.values())),
    }


def describe_steps(study: dict, first: int = 500) -> str:
    """One-step against multi-step training over seeds: chapter 05's FGSM-RS recipe and its PGD
    recipe, each seed's AutoAttack figure on the same first images, the runs that failed
    (Fisher's exact test over the runs), and an exact rank-sum test over the seeds' figures."""
    numbers = _steps_numbers(study, first)
    one, multi = numbers["one"], numbers["multi"]
    separated = min(multi.values()) > max(one.values()) and all(
        distinguishable((m, first), (o, first)) for m in multi.values() for o in one.values()
    )
    lines = [
        f"**One attack step against several, over seeds.** Under AutoAttack on the first "
        f"{first:,} test images, chapter 05's one-step recipe (`fgsm_rs_smallcnn`: one FGSM step "
        f"of 1.25·eps from a random start, 10 epochs, the best held-out epoch kept) keeps "
        f"{_listed(one, first)}; its multi-step recipe (`pgd_at_smallcnn`: 3 PGD steps of "
        f"0.5·eps, 15 epochs, the eps ramp, the last epoch kept) keeps {_listed(multi, first)}.",
        f"Below {COLLAPSED_BELOW:.0f}% (the training failed): "
        f"{count_words(numbers['failed_one'], len(one), 'one-step run')} against "
        f"{count_words(numbers['failed_multi'], len(multi), 'multi-step run')} (Fisher's exact "
        f"test over the runs p = {numbers['fisher']:.2g}).",
        (
            "Every multi-step seed is above every one-step seed, intervals apart"
            if separated
            else "The two recipes' seeds are not all intervals apart"
        )
        + f"; over {len(multi)} and {len(one)} seeds the exact rank-sum test of their figures "
        f"gives p = {numbers['rank_sum']:.2g}"
        + _rank_sum_verdict(numbers["rank_sum"], len(multi), len(one)),
        "The recipes differ in more than the number of steps (step size, epochs, the eps ramp, "
        "which epoch is kept): this compares the two recipes as the series trains them, not "
        "steps alone.",
    ]
    return " ".join(lines)


def summarize_steps(study: dict, first: int = 500) -> str:
    """:func:`describe_steps` in one clause, for a summary."""
    numbers = _steps_numbers(study, first)
    one, multi = numbers["one"], numbers["multi"]
    return (
        f"over {len(one)} and {len(multi)} seeds, chapter 05's one-step recipe fell below "
        f"{COLLAPSED_BELOW:.0f}% under AutoAttack in "
        f"{count_words(numbers['failed_one'], len(one), 'run')} and its multi-step recipe in "
        f"{count_words(numbers['failed_multi'], len(multi), 'run')} (Fisher's exact test "
        f"p = {numbers['fisher']:.2g}; rank-sum test of their figures p = "
        f"{numbers['rank_sum']:.2g}"
        + (
            f": {len(one)} and {len(multi)} seeds cannot establish a difference at 5%)"
            if smallest_rank_sum_p(len(multi), len(one)) >= 0.05
            else ": too few seeds to establish a difference at 5%)"
            if numbers["rank_sum"] >= 0.05
            else ")"
        )
    )


def smallest_rank_sum_p(m: int, n: int) -> float:
    """The smallest two-sided p-value the exact rank-sum test can give for samples of ``m`` and
    ``n`` values (complete separation): 2 / C(m + n, m), at most 1. With 3 and 3 it is 0.1, so
    no outcome of 3 seeds against 3 can reach the 5% level."""
    return min(1.0, 2 / math.comb(m + n, m))


def _rank_sum_verdict(p: float, m: int, n: int) -> str:
    smallest = smallest_rank_sum_p(m, n)
    if p < 0.05:
        return ", a difference at the 5% level."
    if smallest >= 0.05:
        return (
            f", the smallest p-value the test can give with {m} and {n} seeds (complete "
            "separation): no outcome of so few seeds can reach the 5% level, so this says only "
            "that more seeds are needed."
        )
    return ", so the seeds alone do not establish a difference at the 5% level."


def ramp_ablated(study: dict, first: int = 500) -> dict[str, dict]:
    """``{model: {"with": accuracy, "without": accuracy, **paired counts}}``: each recipe the
    study ran without the eps ramp, with and without it (seed 0) on the same first images."""
    result = {}
    ablated = [run["model"] for run in study["runs"] if run["variant"] == "no_ramp"]
    if not ablated:
        raise ValueError("the study has no run without the eps ramp")
    for model in ablated:
        with_ramp, without = find(study, model), find(study, model, variant="no_ramp")
        result[model] = {
            "with": robust_accuracy(with_ramp, first),
            "without": robust_accuracy(without, first),
            **paired(with_ramp, without, first),
        }
    return result


def describe_ramp(study: dict, first: int = 500) -> str:
    """The eps ramp ablated: each recipe with and without it (seed 0, the same first images),
    compared image by image."""
    sentences = []
    for model, numbers in ramp_ablated(study, first).items():
        failed = " (the training failed)" if numbers["without"] < COLLAPSED_BELOW else ""
        verdict = (
            "a difference at the 5% level"
            if numbers["p_value"] < 0.05
            else "no difference at the 5% level"
        )
        without = find(study, model, 0, "no_ramp")
        counts = counts_of(without["outcomes"][:first])
        if not any(counts[attack] for attack in ("apgd-ce", "apgd-t", "fab-t", "square")):
            constant = (
                ", exactly the share of the test set's most common digit, what a model that "
                "predicts that digit for every image gets"
                if abs(without["clean"] - 11.35) < 1e-9
                else ""
            )
            failed = (
                f" ({'the training failed: ' if failed else ''}AutoAttack broke none of its "
                f"images, so {numbers['without']:.1f}% is its clean accuracy on them; "
                f"{without['clean']:.2f}% clean on all 10,000{constant})"
            )
        sentences.append(
            f"`{model}` keeps {with_interval(numbers['with'], first)} with the ramp and "
            f"{with_interval(numbers['without'], first)} without it{failed}; "
            + _paired_text("the ramp", "no ramp", numbers)
            + f": {verdict}"
        )
    return (
        f"**The eps ramp, ablated** (seed 0; without the ramp the training eps is 0.3 from the "
        f"first batch; AutoAttack on the same first {first:,} test images): "
        + "; ".join(sentences)
        + ". One seed each: a difference here is one between two trained models, and needs "
        "other seeds before it is a property of the recipes."
    )


def describe_failed(study: dict) -> str:
    """The robust recipes whose seed-0 run fell below :data:`COLLAPSED_BELOW` under AutoAttack
    in the study (their training failed), said beside the leaderboard; empty if none."""
    lines = []
    for run in study["runs"]:
        if run["seed"] != 0 or run["variant"] != "recipe" or not is_robust(run["model"]):
            continue
        shown = figure(run)
        if shown.accuracy < COLLAPSED_BELOW:
            lines.append(
                f"`{run['model']}` (seed 0) keeps {with_interval(shown.accuracy, shown.n_images)} "
                f"under AutoAttack with {shown.clean_accuracy:.2f}% clean: its training failed "
                "(consistent with chapter 05's catastrophic overfitting; the study did not record "
                "its training), and section 7 gives its other seeds. "
                "A leaderboard entry is one model trained with its authors' recipe, not ours."
            )
    return " ".join(lines)


def same_model(study: dict, name: str, model) -> bool:
    """Whether ``model`` has the very weights of the study's seed-0 run of ``name``."""
    try:
        run = find(study, name)
    except KeyError:
        return False
    return run.get("weights_sha256") == weights_digest(model)


def describe_live(study: dict, live: dict, same: dict | None = None) -> tuple[str, dict]:
    """This run's AutoAttack figures (``{name: fh.autoattack result}`` on the first test images)
    beside the study's seed-0 runs on the same images: whether the study's figure lies inside
    this run's 95% interval, and (``same``: ``{name: bool}`` from :func:`same_model`) whether it
    is the very model the study attacked. Returns the Markdown and ``{name: live_check}``."""
    same = same or {}
    checks, lines = {}, []
    for name, result in live.items():
        try:
            run = find(study, name)
        except KeyError:
            continue
        check = live_check(run, result.accuracy, result.n_images)
        check["same_model"] = bool(same.get(name))
        checks[name] = check
        low, high = check["live_interval"]
        which = "the same model" if check["same_model"] else "another model of the same recipe"
        inside = "inside" if check["same_images_inside"] else "outside"
        lines.append(
            f"- `{name}` ({which}): this run {result.accuracy:.1f}% ({low:.1f}-{high:.1f}) on the "
            f"first {result.n_images} test images; the study {check['study_same_images']:.1f}% on "
            f"the same images, {inside} that interval"
        )
    return "\n".join(lines), checks


REFERENCE_BENCHMARK = "benchmarks/bench_reference_autoattack.py"


def reference_summary(record: dict, name: str) -> dict:
    """What the study keeps of a record of :data:`REFERENCE_BENCHMARK` (the reference AutoAttack
    and ``fh.autoattack`` on the same checkpoint and images): the figures after each attack,
    the images only one of them broke, McNemar's test, and the reference's own warnings."""
    figures = record["figures"]
    return {
        "benchmark": REFERENCE_BENCHMARK,
        "record": name,
        "date": record.get("date"),
        "machine": record.get("machine", {}).get("cpu_model"),
        "checkpoint_sha256": record["config"]["model"]["sha256"],
        "model": record["config"]["model"].get("name"),
        "images": figures["images"],
        "square_queries": figures["square_queries"],
        "after": figures["robust_accuracy_after"],
        "robust_accuracy": {
            who: figures["robust_accuracy"][who]["accuracy"] for who in ("ours", "reference")
        },
        "only_ours_breaks": len(figures["only_ours_breaks"]),
        "only_reference_breaks": len(figures["only_reference_breaks"]),
        "mcnemar_exact_p": figures["mcnemar_exact_p"],
        "reference_checks_fired": figures["reference_checks_fired"],
        "reference_warnings": figures["reference_warnings"],
        "seconds": {
            who: round(figures["seconds"][who]["total"], 1) for who in ("ours", "reference")
        },
        "reference_version": record.get("software", {}).get("reference_autoattack"),
    }


def attach_reference(study_path, results_path, name: str) -> dict:
    """Put the reference benchmark's record ``name`` (from its results JSON) into the study at
    ``study_path``, after checking that it attacked the study's seed-0 defence."""
    record = json.loads(Path(results_path).read_text())["benchmarks"][name]
    summary = reference_summary(record, name)
    study = json.loads(Path(study_path).read_text())
    run = find(study, DEFENCE)
    if not run.get("checkpoint_sha256", "").startswith(summary["checkpoint_sha256"]):
        raise ValueError(
            f"record {name} attacked checkpoint {summary['checkpoint_sha256']}, not the study's "
            f"{DEFENCE} (seed 0, {run.get('checkpoint_sha256', 'unknown')[:16]})"
        )
    study["reference"] = summary
    Path(study_path).write_text(json.dumps(study, indent=1) + "\n")
    return summary


#: What each of the reference's checks (fra31/auto-attack's ``checks.py``) means when it fires.
CHECK_MEANINGS = {
    "check_randomized": "the model's outputs change between calls on the same input, so a "
    "deterministic attack may misjudge it (AutoAttack's rand version is meant for that)",
    "check_range_output": "the model outputs probabilities, not logits, which can flatten the "
    "gradients the attacks follow",
    "check_zero_gradients": "some images have zero gradients, so gradient attacks cannot move "
    "them: a sign of gradient masking",
    "check_dynamic": "the model seems to change with its inputs (a dynamic defence), which "
    "needs an adaptive attack",
    "check_n_classes": "there are too few classes for the targeted attacks' number of targets",
}


def describe_reference(study: dict) -> str:
    """How the package's AutoAttack and the reference implementation agree on the study's
    defence: the figure after each attack for both, the images on which they differ, and every
    warning the reference's own checks printed, with what it means."""
    ref = study.get("reference")
    if ref is None:
        return "The study holds no comparison with the reference implementation yet."
    n = ref["images"]
    names = {"clean": "clean", "apgd-ce": "APGD-CE", "apgd-t": "APGD-T", "fab-t": "FAB-T"}
    stages = [stage for stage in ref["after"]["reference"] if stage in ref["after"]["ours"]]
    steps = "; ".join(
        ("" if stage == "clean" else "after ")
        + f"{names.get(stage, stage.capitalize())}: {ref['after']['ours'][stage]:.1f}% and "
        f"{ref['after']['reference'][stage]:.1f}%"
        for stage in stages
    )
    ours, theirs = ref["robust_accuracy"]["ours"], ref["robust_accuracy"]["reference"]
    differ = ref["only_ours_breaks"] + ref["only_reference_breaks"]
    lines = [
        "**Which implementation, and do they agree?** Every AutoAttack figure this chapter and "
        "the study measure comes from `fh.autoattack`, which runs torchattacks' port; the "
        "leaderboard's come from the reference implementation (fra31/auto-attack). The "
        f"reference (standard version) ran on the study's `{DEFENCE}` checkpoint and its first "
        f"{n:,} test images ({ref['benchmark']}), beside the package; ours and the reference's, "
        f"{steps}. In the end {with_interval(ours, n)} and {with_interval(theirs, n)}: they "
        f"give the same outcome on {n - differ:,} of the {n:,} images "
        f"({ref['only_ours_breaks']:,} broken by ours only, {ref['only_reference_breaks']:,} "
        f"by the reference only; exact McNemar test p = {ref['mcnemar_exact_p']:.2g}).",
    ]
    fired = list(ref["reference_checks_fired"])
    if "check_square_sr" in fired:
        lines.append(
            "The reference's own check fired: after Square it printed "
            f'"{_square_warning(ref["reference_warnings"])}" Square, which uses no gradients, '
            "broke images that three gradient attacks had left standing, so the gradient "
            "attacks miss adversarial examples this model has, and 5,000 queries of Square need "
            "not find them all either: the AutoAttack figure of this defence is an upper bound "
            "that a stronger or adapted attack could lower. The reference's advice is more "
            "Square queries or restarts, or an attack adapted to the model."
        )
    for check in fired:
        if check != "check_square_sr":
            meaning = CHECK_MEANINGS.get(check, "see the reference's flags_doc.md")
            lines.append(f"Its check `{check}` fired too: {meaning}.")
    if not fired:
        lines.append("None of the reference's own checks printed a warning.")
    return " ".join(lines)


def _square_warning(lines) -> str:
    text = " ".join(line.strip() for line in lines if "Square" in line or "unreliable" in line)
    return text.replace("reference | ", "").strip() or "a warning about Square"


def main(argv=None, prog: str = "fgsm-series robustness") -> int:
    """``fgsm-series robustness``: run (or resume) the robustness study, or merge study files."""
    parser = study_parser(
        prog, __doc__.split("\n\n")[0], out_help="JSON file (resumed when it exists)"
    )
    parser.add_argument(
        "--runs", nargs="+", default=None, metavar="KEY", help=f"runs of {list(PLAN_KEYS)}"
    )
    parser.add_argument(
        "--checkpoints",
        default="robustness_checkpoints",
        help="folder of the trained models, one subfolder a run (reused when the recipe matches)",
    )
    parser.add_argument("--merge", nargs="+", default=None, metavar="FILE")
    parser.add_argument(
        "--reference-record",
        nargs=2,
        default=None,
        metavar=("RESULTS_JSON", "NAME"),
        help=f"put the record NAME of {REFERENCE_BENCHMARK}'s results file into --out",
    )

    def body(args, command):
        if args.reference_record:
            summary = attach_reference(args.out, *args.reference_record)
            print(f"{args.out}: reference comparison on {summary['images']} images attached")
            return
        if args.merge:
            merged = merge(args.merge, args.out)
            print(f"merged {len(merged['runs'])} runs into {args.out}")
            return
        run_study(
            args.out,
            keys=args.runs,
            checkpoints=args.checkpoints,
            data_dir=args.data_dir,
            device=get_device(args.device),
            quick=args.quick,
            command=command,
        )

    return run_command(parser, argv, body)
