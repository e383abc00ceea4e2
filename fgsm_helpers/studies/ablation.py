"""The ablation study behind chapter 06's defence: one ingredient changed at a time.

``ABLATION`` names the variants of the defence (``trades_widecnn`` of :mod:`fgsm_helpers.zoo`),
each with one ingredient changed; ``fgsm-series ablation`` trains them (the last epoch kept)
and measures each with AutoAttack (standard, eps 0.3) on the first 1,000 test images, saving
the study after every run. The committed study ships as ``studies/data/ablation_study.json``
(chapter 06 shows it):

    fgsm-series ablation --variants defence no_trades --out ablation.json [--device auto]
"""

from __future__ import annotations

import time

from ..data import load_mnist
from ..evaluation import accuracy, autoattack
from ..models import build_model
from ..robustness import with_interval
from ..runtime import get_device, set_seed
from ..stats import accuracy_interval, distinguishable
from ..training import train
from ..zoo import EPS, VAL_IMAGES, recipe, train_arguments
from .state import Study, load, run_command, study_parser

#: The ablation study: chapter 06's defence, and one ingredient changed at a time. Epochs are
#: set so that every variant costs about the same on the 2-core CPU (SmallCNN's epochs are
#: cheaper, so it gets more of them).
ABLATION = {
    "defence": ("the defence: TRADES, WideCNN, eps ramp", {}),
    "no_trades": (
        "PGD-3 training instead of TRADES",
        {
            "attack": "pgd",
            "adv_weight": 1.0,
            "epochs": 9,
            "attack_kwargs": {"steps": 3, "alpha_ratio": 0.5},
        },
    ),
    "no_width": (
        "SmallCNN instead of WideCNN (17 epochs)",
        {"architecture": "SmallCNN", "epochs": 17},
    ),
    "weight_average": ("plus an average of the weights (decay 0.999)", {"weight_average": 0.999}),
    "chapter05": ("chapter 05's defence: PGD-3 on SmallCNN, 15 epochs", None),
}
AUTOATTACK_IMAGES = 1000
QUICK = {"epochs": 1, "train_images": 2000, "test_images": 50, "steps": 10, "queries": 100}


def ablation_recipe(variant: str, **overrides) -> dict:
    """The recipe of one variant of the ablation study."""
    if variant not in ABLATION:
        raise ValueError(f"variant must be one of {list(ABLATION)}; got {variant!r}")
    return recipe(_base(variant), **{**_changes(variant), **overrides})


def _base(variant: str) -> str:
    return "pgd_at_smallcnn" if ABLATION[variant][1] is None else "trades_widecnn"


def _changes(variant: str) -> dict:
    return ABLATION[variant][1] or {}


def run_variant(
    variant: str,
    x_train,
    y_train,
    x_test,
    y_test,
    *,
    seed: int,
    epochs=None,
    test_images: int = AUTOATTACK_IMAGES,
    attack_settings: dict | None = None,
    progress: bool = False,
) -> dict:
    """Train one variant of the ablation (the last epoch is kept) and measure it: clean
    accuracy on all of ``x_test``, AutoAttack (standard, eps 0.3) on its first
    ``test_images`` (``attack_settings``: ``steps``/``queries`` for ``fh.autoattack``, only to
    make a quick check cheap). Returns the study's row."""
    wanted = ablation_recipe(variant, **({"epochs": epochs} if epochs else {}))
    device = x_train.device
    set_seed(seed)
    model = build_model(wanted["architecture"]).to(device)
    start = time.perf_counter()
    train(
        model,
        x_train,
        y_train,
        epochs=wanted["epochs"],
        seed=seed,
        progress=progress,
        **{k: v for k, v in train_arguments(wanted).items() if k != "epochs"},
    )
    seconds = time.perf_counter() - start
    result = autoattack(
        model,
        x_test[:test_images],
        y_test[:test_images],
        EPS,
        batch_size=500,
        progress=progress,
        **(attack_settings or {}),
    )
    return {
        "variant": variant,
        "change": ABLATION[variant][0],
        "seed": seed,
        "recipe": wanted,
        "clean": accuracy(model, x_test, y_test),
        "autoattack": result.accuracy,
        "autoattack_images": result.n_images,
        "broken_by": result.counts,
        "train_seconds": round(seconds, 1),
        "train_device": str(device),
    }


def run_study(
    variants,
    out_path,
    *,
    seeds=(0,),
    data_dir=None,
    device="cpu",
    quick: bool = False,
    command: str = "",
) -> dict:
    """Run the ablation variants with each seed, saving ``out_path`` after every run (a rerun
    skips the runs already there)."""
    unknown = set(variants) - set(ABLATION)
    if unknown:
        raise ValueError(f"unknown variants {sorted(unknown)}; known: {list(ABLATION)}")
    study = Study(
        out_path,
        description="Chapter 06's defence with one ingredient changed at a time.",
        command=command,
        configuration={"quick": quick},
        device=device,
        extra={
            "quick": quick,
            "evaluation": f"AutoAttack (standard, torchattacks), eps {EPS}, first test images",
        },
    )
    x_train, y_train = load_mnist("train", data_dir, device=device)
    x_train, y_train = x_train[:-VAL_IMAGES], y_train[:-VAL_IMAGES]  # the held-out slice stays out
    x_test, y_test = load_mnist("test", data_dir, device=device)
    test_images = AUTOATTACK_IMAGES
    if quick:
        x_train, y_train = x_train[: QUICK["train_images"]], y_train[: QUICK["train_images"]]
        test_images = QUICK["test_images"]
    for seed in seeds:
        for variant in variants:
            if study.has(variant=variant, seed=seed):
                continue
            row = run_variant(
                variant,
                x_train,
                y_train,
                x_test,
                y_test,
                seed=seed,
                epochs=QUICK["epochs"] if quick else None,
                test_images=test_images,
                attack_settings={"steps": QUICK["steps"], "queries": QUICK["queries"]}
                if quick
                else None,
            )
            study.add(row)
            print(
                f"seed {seed} | {variant:15s} | clean {row['clean']:.2f}% | AutoAttack "
                f"{row['autoattack']:.1f}% | trained in {row['train_seconds']:.0f} s",
                flush=True,
            )
    return study.data


def load_study(path=None) -> dict:
    """The committed ablation study (or the one at ``path``)."""
    return load("ablation", path)


def _by_variant(study: dict) -> dict[str, dict]:
    runs = {row["variant"]: row for row in study["runs"]}
    if "defence" not in runs:
        raise ValueError("the study has no run of the defence to compare the variants with")
    return runs


def ablation_rows(study: dict) -> list[dict]:
    """One table row per run of an ablation study (:func:`load_study`): clean and AutoAttack
    accuracy (percent), the latter's 95% Wilson interval on its images, the difference from
    the defence, the epochs and where it was trained."""
    reference = _by_variant(study)["defence"]
    rows = []
    for row in study["runs"]:
        low, high = accuracy_interval(row["autoattack"], row["autoattack_images"])
        rows.append(
            {
                "variant": row["change"],
                "clean %": row["clean"],
                "AutoAttack %": row["autoattack"],
                "95% interval": f"{low:.1f}-{high:.1f}",
                "vs defence": row["autoattack"] - reference["autoattack"],
                "epochs": row["recipe"]["epochs"],
                "trained on": row["train_device"],
            }
        )
    return rows


def compare_variants(study: dict) -> dict[str, list[dict]]:
    """The variants of an ablation study whose AutoAttack figure is ``"below"`` or ``"above"``
    the defence's with the 95% intervals apart, and those ``"not distinguishable"`` from it."""
    runs = _by_variant(study)
    reference = (runs["defence"]["autoattack"], runs["defence"]["autoattack_images"])
    groups: dict[str, list[dict]] = {"below": [], "not distinguishable": [], "above": []}
    for variant, row in runs.items():
        if variant == "defence":
            continue
        measured = (row["autoattack"], row["autoattack_images"])
        if not distinguishable(measured, reference):
            groups["not distinguishable"].append(row)
        else:
            groups["below" if measured[0] < reference[0] else "above"].append(row)
    return groups


def describe_study(study: dict) -> str:
    """What an ablation study shows, with 95% intervals: the defence's AutoAttack figure, and
    each variant below it, above it, or not distinguishable from it (overlapping intervals)."""
    runs = _by_variant(study)
    reference = runs["defence"]
    seeds = sorted({row["seed"] for row in study["runs"]})
    groups = compare_variants(study)

    def listed(rows):
        return "; ".join(
            f"{row['change']}, {with_interval(row['autoattack'], row['autoattack_images'])}"
            for row in rows
        )

    lines = [
        f"In the study the defence kept "
        f"{with_interval(reference['autoattack'], reference['autoattack_images'])} under "
        f"AutoAttack on the first {reference['autoattack_images']:,} test images "
        f"({reference['clean']:.2f}% clean)."
    ]
    for group, words in (
        ("below", "Below it, intervals apart"),
        ("not distinguishable", "Not distinguishable from it"),
        ("above", "Above it, intervals apart"),
    ):
        lines.append(f"{words}: {listed(groups[group]) or 'none'}.")
    seed_text = f"seed {seeds[0]}" if len(seeds) == 1 else f"seeds {', '.join(map(str, seeds))}"
    if not groups["below"] and not groups["above"]:
        lines.append(
            f"The study ran with {seed_text}: on these images it cannot tell which ingredient "
            "matters, only that none of the changes moved the figure by more than the "
            "intervals allow."
        )
    else:
        lines.append(
            f"The study ran with {seed_text}: a difference between two runs, not yet a "
            "property of the recipes, until other seeds repeat it."
        )
    lines.append(
        "The study kept each variant's counts, not which images it lost, so variants are compared "
        "by their intervals: a conservative comparison that can miss a difference a paired test "
        "on the same images would find."
    )
    return " ".join(lines)


def main(argv=None, prog: str = "fgsm-series ablation") -> int:
    """``fgsm-series ablation``: run (or resume) the ablation study."""
    parser = study_parser(
        prog, __doc__.split("\n\n")[0], out_help="JSON file (resumed when it exists)"
    )
    parser.add_argument("--variants", nargs="+", default=list(ABLATION), choices=list(ABLATION))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])

    def body(args, command):
        run_study(
            args.variants,
            args.out,
            seeds=args.seeds,
            data_dir=args.data_dir,
            device=get_device(args.device),
            quick=args.quick,
            command=command,
        )

    return run_command(parser, argv, body)
