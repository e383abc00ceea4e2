"""AutoAttack with the reference implementation as referee: the reference AutoAttack
(Croce & Hein 2020, github.com/fra31/auto-attack) and the package's ``fh.autoattack`` (which
runs torchattacks' AutoAttack ensemble) on the same checkpoint and the same first ``--n`` MNIST
test images, L-infinity, same eps, version, seed and batch size.

Recorded for each implementation: the clean accuracy, the robust accuracy left after each
attack of the ensemble (standard: APGD-CE, APGD-T, FAB-T, Square), the final robust accuracy
with its 95% Wilson interval (``fgsm_helpers.stats``), which attack broke each image, and the
run time of each attack. Compared: the images each implementation breaks that the other does
not (with an exact McNemar test of the paired difference). From the reference also its own
warnings: its ``checks.py`` (``check_square_sr`` when Square lowers the accuracy the gradient
attacks left, ``check_zero_gradients``, ``check_randomized``, ``check_range_output``,
``check_dynamic``, ``check_n_classes``) reports through its logger, which prints; the script
captures what the reference prints (and any Python warning it raises) and keeps the lines.

The reference is not on PyPI: ``--reference DIR`` is the folder of a clone of its repository
(DIR/autoattack/ holds the package). torchattacks 3.3.0 installs a top-level package that is
also named ``autoattack``, so a plain ``import autoattack`` can find that one: the script drops
any loaded ``autoattack`` module, imports from DIR, and stops with a clear message unless every
module it loaded lives under DIR. Nothing of the reference is copied into this project.

How the reference is read: ``run_standard_evaluation(..., return_labels=True)`` runs as is, in
one call (so its ``check_square_sr`` sees every attack). Per image and per attack it reports
only counts in its log, so the script observes its evaluation state: a subclass of the
reference's ``EvaluationState`` that records the robust flags after each attack (and once the
clean pass has set them) and then does what the original does. The figures read that way are
checked against the accuracies the reference prints.

The model: ``--checkpoint PATH`` (a checkpoint saved by ``fh.save_checkpoint``; its JSON recipe
is recorded) or ``--model-name NAME`` (the zoo's ``--checkpoint-dir/NAME.pt``). Models take
[0, 1] images and normalize inside, as both implementations expect. A checkpoint whose recipe
differs from the zoo's (a quick-mode one) is said so in the output.

The reference's standard AutoAttack takes minutes on a CPU for 200 images of a small CNN:
``--n`` and ``--square-queries`` (default AutoAttack's 5,000, which both implementations get)
make a smoke run cheaper; fewer queries weaken Square in both the same way.

    FGSM_DATA_DIR=/work/shared/data .venv/bin/python benchmarks/bench_reference_autoattack.py \\
        --reference ../auto-attack --checkpoint notebooks/checkpoints/trades_widecnn.pt
    .venv/bin/python benchmarks/bench_reference_autoattack.py --reference ../auto-attack \\
        --model-name trades_widecnn --n 50 --name reference_autoattack_smoke      # smoke
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import importlib
import importlib.util
import io
import re
import subprocess
import sys
import time
import warnings
from pathlib import Path

import common
import torch

import fgsm_helpers as fh
from fgsm_helpers.attacks import to_pixel_eps
from fgsm_helpers.stats import mcnemar_exact, wilson_interval

#: Environment variable the tests read for the reference's folder (they skip without it).
REFERENCE_ENV = "FGSM_REFERENCE_AUTOATTACK"
STEPS = 100  # APGD and FAB iterations: fixed at 100 in the reference, so in the package too
VERSIONS = ("standard", "plus", "rand")
#: Which of the reference's checks (autoattack/checks.py) wrote a warning, by its words.
REFERENCE_CHECKS = {
    "randomized defense": "check_randomized",
    "probability distribution": "check_range_output",
    "zero gradient": "check_zero_gradients",
    "Square Attack has decreased": "check_square_sr",
    "dynamic defense": "check_dynamic",
    "target classes": "check_n_classes",
    "classes it is not possible": "check_n_classes",
}


# ------------------------------------------------------------------------- the reference
class ReferenceNotFound(RuntimeError):
    """The reference AutoAttack is not in the folder given, or another package shadows it."""


def check_loaded_from(module, folder: str | Path) -> Path:
    """The file ``module`` was loaded from, after checking that it lies under ``folder``;
    ReferenceNotFound otherwise (torchattacks' own ``autoattack`` package shadows the
    reference when an ordinary import finds site-packages first)."""
    folder = Path(folder).expanduser().resolve()
    file = getattr(module, "__file__", None)
    if not file:
        raise ReferenceNotFound(
            f"module {module.__name__} has no file: cannot tell where it is from"
        )
    path = Path(file).resolve()
    if not path.is_relative_to(folder):
        raise ReferenceNotFound(
            f"module {module.__name__} was loaded from {path}, not from the reference folder "
            f"{folder}: another package named 'autoattack' (torchattacks installs one in "
            "site-packages) shadows the reference"
        )
    return path


@contextlib.contextmanager
def _no_bytecode():
    """No ``__pycache__`` written while the reference's modules load (its attacks load lazily,
    during the run): the reference folder stays as it was."""
    saved, sys.dont_write_bytecode = sys.dont_write_bytecode, True
    try:
        yield
    finally:
        sys.dont_write_bytecode = saved


def load_reference(folder: str | Path):
    """The reference's ``autoattack`` package, imported from ``folder`` (a clone of
    github.com/fra31/auto-attack): any loaded ``autoattack`` module is dropped first, the
    package is imported from its files there, no bytecode is written into it, and
    every ``autoattack`` module loaded must live under it."""
    folder = Path(folder).expanduser().resolve()
    package_dir = folder / "autoattack"
    if not (package_dir / "__init__.py").is_file() or not (package_dir / "autoattack.py").is_file():
        raise ReferenceNotFound(
            f"{folder} does not hold the reference AutoAttack (no autoattack/__init__.py and "
            "autoattack/autoattack.py): pass --reference the folder of a clone of "
            "https://github.com/fra31/auto-attack"
        )
    for name in [n for n in sys.modules if n == "autoattack" or n.startswith("autoattack.")]:
        del sys.modules[name]
    # Imported from its file, so that its submodules resolve inside the folder whatever else
    # (torchattacks' own top-level autoattack) is installed.
    spec = importlib.util.spec_from_file_location(
        "autoattack", package_dir / "__init__.py", submodule_search_locations=[str(package_dir)]
    )
    package = importlib.util.module_from_spec(spec)
    sys.modules["autoattack"] = package
    with _no_bytecode():
        try:
            spec.loader.exec_module(package)
            importlib.import_module("autoattack.autoattack")
        except BaseException:
            sys.modules.pop("autoattack", None)
            raise
    check_reference_modules(folder)
    return package


def check_reference_modules(folder: str | Path) -> dict[str, str]:
    """Every loaded ``autoattack`` module, checked to live under ``folder``: ``{name: file}``."""
    return {
        name: str(check_loaded_from(module, folder))
        for name, module in sorted(sys.modules.items())
        if module is not None and (name == "autoattack" or name.startswith("autoattack."))
    }


def reference_version(folder: str | Path) -> dict[str, str]:
    """What identifies the reference copy: setup.py's version, the git commit when the folder
    is a clone, and a SHA-256 of its package's Python files (the same files, the same code)."""
    folder = Path(folder).expanduser().resolve()
    info = {"folder": str(folder)}
    setup = folder / "setup.py"
    if setup.is_file():
        found = re.search(r"version\s*=\s*['\"]([^'\"]+)['\"]", setup.read_text())
        if found:
            info["setup_version"] = found.group(1)
    if (folder / ".git").exists():
        with contextlib.suppress(OSError, subprocess.CalledProcessError):
            info["git_commit"] = subprocess.check_output(
                ["git", "rev-parse", "HEAD"], cwd=folder, text=True, stderr=subprocess.DEVNULL
            ).strip()
    digest = hashlib.sha256()
    for path in sorted((folder / "autoattack").rglob("*.py")):
        digest.update(str(path.relative_to(folder)).encode() + b"\0" + path.read_bytes())
    info["package_sha256"] = digest.hexdigest()[:16]
    return info


class _Tee(io.TextIOBase):
    """Keep what is written and pass it on to ``stream`` with ``prefix`` on each line."""

    def __init__(self, stream, prefix: str):
        self.stream, self.prefix, self.parts, self._line_start = stream, prefix, [], True

    def write(self, text: str) -> int:
        self.parts.append(text)
        for piece in text.splitlines(keepends=True):
            if self._line_start:
                self.stream.write(self.prefix)
            self.stream.write(piece)
            self._line_start = piece.endswith("\n")
        self.stream.flush()
        return len(text)

    def flush(self) -> None:
        self.stream.flush()

    def text(self) -> str:
        return "".join(self.parts)


def _recording_state(base, record: dict):
    """A subclass of the reference's ``EvaluationState`` that notes the robust flags when the
    clean pass first sets them and after each attack (with the time), then does as ``base``."""
    fget, fset = base.robust_flags.fget, base.robust_flags.fset

    def set_flags(self, flags):
        if "clean" not in record and flags is not None:
            record["clean"] = flags.detach().cpu().clone()
            record["start"] = time.perf_counter()
        fset(self, flags)

    def add_run_attack(self, attack):
        flags = self.robust_flags.detach().cpu().clone()
        record.setdefault("after", []).append((attack, flags, time.perf_counter()))
        base.add_run_attack(self, attack)

    return type(
        "RecordingEvaluationState",
        (base,),
        {"robust_flags": property(fget, set_flags), "add_run_attack": add_run_attack},
    )


def run_reference(package, folder, model, x, y, args, device) -> dict:
    """The reference's ``run_standard_evaluation`` in one call; what it printed and warned,
    per-image flags after each attack (see ``_recording_state``), the times."""
    engine = sys.modules["autoattack.autoattack"]
    observed: dict = {}
    tee = _Tee(sys.stdout, "  reference | ")
    original_state = engine.EvaluationState
    with (
        contextlib.redirect_stdout(tee),
        warnings.catch_warnings(record=True) as caught,
        _no_bytecode(),
    ):
        warnings.simplefilter("always")
        adversary = package.AutoAttack(
            model,
            norm="Linf",
            eps=args.pixel_eps,
            seed=args.seed,
            version=args.version,
            device=str(device),
            verbose=True,
        )
        adversary.square.n_queries = args.square_queries
        engine.EvaluationState = _recording_state(original_state, observed)
        began = time.perf_counter()
        try:
            x_adv, y_adv = adversary.run_standard_evaluation(
                x, y, bs=args.batch_size, return_labels=True
            )
        finally:
            engine.EvaluationState = original_state
        ended = time.perf_counter()
    modules = check_reference_modules(folder)  # the lazily imported attacks too
    if "clean" not in observed:
        raise RuntimeError(
            "the reference's evaluation state was never set: its autoattack.py no longer "
            "works as this script reads it"
        )
    attacks = list(adversary.attacks_to_run)
    broken_by: list[str | None] = [None if ok else "clean" for ok in observed["clean"].tolist()]
    seconds, previous_time = {}, observed["start"]
    for attack, flags, when in observed.get("after", []):
        for index, ok in enumerate(flags.tolist()):
            if not ok and broken_by[index] is None:
                broken_by[index] = attack
        seconds[attack] = when - previous_time
        previous_time = when
    log = tee.text()
    return {
        "attacks": attacks,
        "attacks_run": [attack for attack, _, _ in observed.get("after", [])],
        "broken_by": broken_by,
        "x_adv": x_adv.detach().cpu(),
        "y_adv": y_adv.detach().cpu(),
        "seconds": {"total": ended - began, "checks_and_clean_pass": observed["start"] - began}
        | seconds,
        "log": log,
        "python_warnings": [
            f"{w.category.__name__}: {w.message} ({Path(w.filename).name}:{w.lineno})"
            for w in caught
        ],
        "modules": modules,
    }


def reference_warnings(log: str, python_warnings: list[str]) -> dict:
    """The reference's warning lines (deduplicated, with counts) and which checks wrote them."""
    counts: dict[str, int] = {}
    for line in log.splitlines():
        if "Warning" in line:
            counts[line.strip()] = counts.get(line.strip(), 0) + 1
    for line in python_warnings:
        if any(words in line for words in REFERENCE_CHECKS):
            counts[line] = counts.get(line, 0) + 1
    fired: dict[str, int] = {}
    for line, count in counts.items():
        for words, check in REFERENCE_CHECKS.items():
            if words in line:
                fired[check] = fired.get(check, 0) + count
                break
    return {"lines": counts, "checks_fired": fired}


def logged_accuracies(log: str) -> dict[str, float]:
    """The robust accuracies (percent) the reference printed: after each attack, and final."""
    found = {
        name.lower(): float(value)
        for name, value in re.findall(r"robust accuracy after ([A-Z0-9-]+): ([\d.]+)%", log)
    }
    final = re.findall(r"^robust accuracy: ([\d.]+)%", log, flags=re.MULTILINE)
    if final:
        found["final"] = float(final[-1])
    initial = re.findall(r"initial accuracy: ([\d.]+)%", log)
    if initial:
        found["clean"] = float(initial[-1])
    return found


# ----------------------------------------------------------------------------- the model
def load_model(args, device):
    """``(model in eval mode, description)`` from ``--checkpoint`` or ``--model-name``."""
    zoo = fh.zoo
    if args.checkpoint:
        path, architecture = Path(args.checkpoint), None
    else:
        path = Path(args.checkpoint_dir) / f"{args.model_name}.pt"
        architecture = zoo.RECIPES[args.model_name]["architecture"]
    try:
        model, meta = fh.load_checkpoint(path, architecture, device)
    except (FileNotFoundError, fh.CheckpointError) as err:
        raise SystemExit(f"cannot load the model: {err}") from err
    description = {
        "path": str(path.resolve()),
        "sha256": hashlib.sha256(path.read_bytes()).hexdigest()[:16],
        "architecture": type(model).__name__,
        "parameters": fh.count_parameters(model),
        "name": meta.get("name"),
        "recipe": meta.get("recipe"),
        "clean_accuracy_when_saved": meta.get("clean_accuracy"),
        "test_images_when_saved": meta.get("test_images"),
    }
    name = meta.get("name") or args.model_name
    if name in zoo.RECIPES and isinstance(meta.get("recipe"), dict):
        description["differs_from_zoo_recipe"] = recipe_differences(name, meta["recipe"])
    return model.eval(), description


def recipe_differences(name: str, saved: dict) -> dict[str, list]:
    """``{setting: [saved, zoo's]}`` where a checkpoint's recipe is not the zoo's full one
    (a quick-mode checkpoint trains fewer epochs on fewer images)."""
    zoo = fh.zoo
    full = zoo.recipe(name)
    if zoo.is_robust(name):
        images = full.get("train_images", zoo.MNIST_TRAIN_IMAGES - zoo.VAL_IMAGES)
        full = {**zoo.train_arguments(full), "epochs": full["epochs"], "train_images": images}
    return {
        key: [saved[key], value]
        for key, value in full.items()
        if key in saved and saved[key] != value
    }


# ----------------------------------------------------------------------------- comparison
def accuracy_after(broken_by: list, stages: list[str]) -> dict[str, float]:
    """Robust accuracy (percent) left after each stage (``clean``, then each attack)."""
    n, done, result = len(broken_by), set(), {}
    for stage in stages:
        done.add(stage)
        result[stage] = 100.0 * sum(1 for b in broken_by if b is None or b not in done) / n
    return result


def final_figure(broken_by: list) -> dict:
    correct, n = broken_by.count(None), len(broken_by)
    low, high = wilson_interval(correct, n)
    return {"accuracy": 100.0 * correct / n, "correct": correct, "n": n, "wilson_95": [low, high]}


def adversarial_checks(model, x, y, x_adv, broken_by, eps) -> dict:
    """The adversarial images stay within eps and [0, 1], and fool the model exactly where an
    attack is said to have broken the image."""
    with torch.no_grad():
        wrong = (model(x_adv).argmax(1) != y).tolist()
    said = [b not in (None, "clean") for b in broken_by]
    return {
        "max_perturbation": (x_adv - x).abs().max().item(),
        "within_eps": (x_adv - x).abs().max().item() <= eps + 1e-5,
        "in_range": bool(x_adv.min() >= 0 and x_adv.max() <= 1),
        "broken_images_fool_the_model": all(w for w, s in zip(wrong, said) if s),
    }


def warm_up(model, x, y) -> None:
    """One forward and input-gradient pass before either clock starts (oneDNN primitives,
    the allocator), so that the implementation timed first pays no more of it."""
    x = x.clone().requires_grad_(True)
    torch.nn.functional.cross_entropy(model(x), y).backward()
    model.zero_grad(set_to_none=True)


# ---------------------------------------------------------------------------------- main
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    common.add_common_arguments(parser)
    parser.add_argument(
        "--reference",
        type=Path,
        required=True,
        metavar="DIR",
        help="folder of a clone of github.com/fra31/auto-attack (holding autoattack/)",
    )
    model = parser.add_mutually_exclusive_group(required=True)
    model.add_argument("--checkpoint", help="a checkpoint saved by fh.save_checkpoint")
    model.add_argument(
        "--model-name", help="a zoo model, loaded from --checkpoint-dir/NAME.pt (never trained)"
    )
    parser.add_argument(
        "--checkpoint-dir",
        default=str(common.REPO / "notebooks" / "checkpoints"),
        help="folder of the zoo's checkpoints, for --model-name (default notebooks/checkpoints)",
    )
    parser.add_argument(
        "--n", type=int, default=200, help="the first N MNIST test images (default 200)"
    )
    parser.add_argument(
        "--eps", type=float, default=0.3, help="L-infinity eps, pixel units (default 0.3)"
    )
    parser.add_argument(
        "--version", choices=VERSIONS, default="standard", help="AutoAttack version"
    )
    parser.add_argument(
        "--square-queries",
        type=int,
        default=5000,
        help="Square's queries in both implementations (default AutoAttack's 5000)",
    )
    parser.add_argument(
        "--batch-size", type=int, default=250, help="batch size of both (default 250)"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of both (default 0)")
    parser.add_argument("--device", default="cpu", help="torch device (default cpu)")
    parser.add_argument(
        "--name",
        default="reference_autoattack",
        help="key of this record in the results JSON (default 'reference_autoattack')",
    )
    return parser


def parse_args(argv=None) -> argparse.Namespace:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not 1 <= args.n <= 10_000:
        parser.error(f"--n must be between 1 and 10000; got {args.n}")
    for name in ("square_queries", "batch_size"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1; got {getattr(args, name)}")
    if args.model_name is not None and args.model_name not in fh.zoo.RECIPES:
        parser.error(
            f"--model-name must be one of {sorted(fh.zoo.RECIPES)}; got {args.model_name!r}"
        )
    try:
        args.pixel_eps = to_pixel_eps(args.eps)
    except ValueError as err:
        parser.error(str(err))
    if args.pixel_eps == 0:
        parser.error("--eps must be > 0: at eps 0 there is nothing to attack")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    fh.tune_cpu_allocator()  # as the notebooks' setup cell does
    threads = common.setup_threads(args.threads)
    common.resolve_data_dir(args.data_dir)
    try:
        package = load_reference(args.reference)
    except ReferenceNotFound as err:
        raise SystemExit(f"--reference: {err}") from err
    device = torch.device(args.device)
    config = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
    config["steps"] = STEPS
    if args.checkpoint:
        del config["checkpoint_dir"]  # only --model-name reads it
    record = common.new_record(args.name, threads, config)
    record["software"]["reference_autoattack"] = reference_version(args.reference)
    record["software"]["fgsm_helpers_autoattack"] = (
        f"torchattacks {record['software']['torchattacks']} (fh.autoattack)"
    )

    model, model_info = load_model(args, device)
    record["config"]["model"] = model_info
    x_test, y_test = fh.load_mnist("test")
    x, y = x_test[: args.n].to(device), y_test[: args.n].to(device)
    n = len(x)

    warm_up(model, x[: args.batch_size], y[: args.batch_size])
    print(
        f"[1/2] reference AutoAttack ({args.version}, eps {args.pixel_eps:g}, {n} images, "
        f"Square {args.square_queries} queries) from {package.__file__}",
        flush=True,
    )
    reference = run_reference(package, args.reference, model, x, y, args, device)
    print(f"      {reference['seconds']['total']:.1f} s", flush=True)

    print(f"[2/2] fh.autoattack ({args.version}, torchattacks), same images", flush=True)
    importlib.import_module("torchattacks")  # imported before the clock starts
    began = time.perf_counter()
    ours = fh.autoattack(
        model,
        x,
        y,
        args.pixel_eps,
        version=args.version,
        steps=STEPS,
        queries=args.square_queries,
        batch_size=args.batch_size,
        seed=args.seed,
        progress=True,
    )
    ours_seconds = time.perf_counter() - began
    print(f"      {ours_seconds:.1f} s", flush=True)

    # --- figures
    x_cpu, y_cpu = x.cpu(), y.cpu()
    broken = {"ours": ours.broken_by, "reference": reference["broken_by"]}
    stages = ["clean", *dict.fromkeys([*ours.attacks, *reference["attacks"]])]
    after = {who: accuracy_after(b, stages) for who, b in broken.items()}
    final = {who: final_figure(b) for who, b in broken.items()}
    robust = {who: [b is None for b in bb] for who, bb in broken.items()}

    def discordant(breaker, survivor):
        return [
            {
                "index": i,
                "label": int(y_cpu[i]),
                "ours": broken["ours"][i],
                "reference": broken["reference"][i],
            }
            for i in range(n)
            if not robust[breaker][i] and robust[survivor][i]
        ]

    only_ours, only_reference = discordant("ours", "reference"), discordant("reference", "ours")
    warned = reference_warnings(reference["log"], reference["python_warnings"])
    logged = logged_accuracies(reference["log"])
    half_point = 0.005 + 1e-9  # the reference prints percent with 2 decimals
    log_agrees = all(
        abs(after["reference"][stage] - value) <= half_point
        for stage, value in logged.items()
        if stage in after["reference"]
    ) and (
        "final" not in logged or abs(final["reference"]["accuracy"] - logged["final"]) <= half_point
    )
    with torch.no_grad():
        model_cpu = model.to("cpu")
        checks = {
            "same_clean_accuracy": after["ours"]["clean"] == after["reference"]["clean"],
            "reference_log_agrees": log_agrees,
            "reference_labels_agree": (reference["y_adv"] == y_cpu).tolist() == robust["reference"],
            "ours": adversarial_checks(
                model_cpu, x_cpu, y_cpu, ours.x_adv.cpu(), ours.broken_by, args.pixel_eps
            ),
            "reference": adversarial_checks(
                model_cpu, x_cpu, y_cpu, reference["x_adv"], reference["broken_by"], args.pixel_eps
            ),
        }
    checks_ok = (
        checks["same_clean_accuracy"]
        and checks["reference_log_agrees"]
        and checks["reference_labels_agree"]
        and all(
            checks[who][key]
            for who in ("ours", "reference")
            for key in ("within_eps", "in_range", "broken_images_fool_the_model")
        )
    )
    difference = final["ours"]["accuracy"] - final["reference"]["accuracy"]
    p_value = mcnemar_exact(len(only_ours), len(only_reference))
    seconds = {
        "ours": {"total": ours_seconds, **ours.seconds},
        "reference": reference["seconds"],
    }
    record["figures"].update(
        {
            "images": n,
            "eps": args.pixel_eps,
            "version": args.version,
            "steps": STEPS,
            "square_queries": args.square_queries,
            "attacks": {"ours": list(ours.attacks), "reference": reference["attacks"]},
            "reference_attacks_run": reference["attacks_run"],
            "robust_accuracy_after": after,
            "robust_accuracy": final,
            "difference_points": difference,
            "broken_by_counts": {
                who: {stage: b.count(stage) for stage in stages} | {"robust": b.count(None)}
                for who, b in broken.items()
            },
            "only_ours_breaks": only_ours,
            "only_reference_breaks": only_reference,
            "mcnemar_exact_p": p_value,
            "seconds": seconds,
            "reference_warnings": warned["lines"],
            "reference_checks_fired": warned["checks_fired"],
            "reference_logged_accuracies": logged,
            "reference_log": reference["log"].splitlines(),
            "reference_python_warnings": reference["python_warnings"],
            "reference_modules": reference["modules"],
            "checks": checks,
        }
    )
    low, high = final["reference"]["wilson_95"]
    within = low <= final["ours"]["accuracy"] <= high
    record["targets"] = {
        "ours_within_reference_interval": {
            "target": "ours' robust accuracy inside the reference's 95% Wilson interval",
            "value": final["ours"]["accuracy"],
            "met": within,
        },
        "no_reference_warnings": {
            "target": "the reference's checks print no warning",
            "value": sorted(warned["checks_fired"]),
            "met": not warned["checks_fired"],
        },
    }
    common.finish_record(record, started)
    path = common.merge_results(args.results, args.name, record)

    # --- the table
    def seconds_cell(who, stage):
        """The attack's seconds, blank where no image was left for it to attack."""
        before = stages[stages.index(stage) - 1] if stage != "clean" else None
        value = seconds[who].get(stage)
        if value is None or before is None or after[who][before] == 0:
            return ""
        return f"{value:.1f}"

    rows = [
        [
            stage,
            f"{after['ours'][stage]:.2f}",
            f"{after['reference'][stage]:.2f}",
            f"{after['ours'][stage] - after['reference'][stage]:+.2f}",
            seconds_cell("ours", stage),
            seconds_cell("reference", stage),
        ]
        for stage in stages
    ]

    def interval(who):
        figure = final[who]
        lo, hi = figure["wilson_95"]
        return f"{figure['accuracy']:.2f} [{lo:.1f}, {hi:.1f}]"

    rows.append(
        [
            "final [95% Wilson]",
            interval("ours"),
            interval("reference"),
            f"{difference:+.2f}",
            f"{ours_seconds:.1f}",
            f"{reference['seconds']['total']:.1f}",
        ]
    )

    def listing(items, limit=12):
        text = ", ".join(
            f"#{d['index']} ({d['ours'] if d['ours'] else d['reference']})" for d in items[:limit]
        )
        return text + (f", ... ({len(items) - limit} more)" if len(items) > limit else "")

    fired = warned["checks_fired"]
    model_text = f"{model_info['name'] or model_info['architecture']} from {model_info['path']}"
    notes = [
        common.header_line(record),
        f"model: {model_text} ({model_info['architecture']}, {model_info['parameters']:,} "
        f"parameters, sha256 {model_info['sha256']})",
    ]
    if model_info.get("differs_from_zoo_recipe"):
        differing = ", ".join(
            f"{k} {v[0]} (zoo {v[1]})" for k, v in model_info["differs_from_zoo_recipe"].items()
        )
        notes.append(f"NOTE: not the zoo's full recipe: {differing}")
    ref = record["software"]["reference_autoattack"]
    notes += [
        f"reference: {ref['folder']} (setup.py {ref.get('setup_version', '?')}, "
        f"{'commit ' + ref['git_commit'][:12] if 'git_commit' in ref else 'no git'}, "
        f"package sha256 {ref['package_sha256']}); ours: {record['software']['fgsm_helpers_autoattack']}",
        f"accuracies in percent after each attack; seconds per attack (reference: "
        f"{reference['seconds']['checks_and_clean_pass']:.1f} s of checks and the clean pass "
        "are in its total only)",
        f"only ours breaks {len(only_ours)}: {listing(only_ours) or '-'}",
        f"only the reference breaks {len(only_reference)}: {listing(only_reference) or '-'}",
        f"paired difference: exact McNemar p = {p_value:.3g} ({len(only_ours)} vs "
        f"{len(only_reference)} discordant images)",
        "reference warnings: "
        + (
            "; ".join(f"{c} x{k}" for c, k in fired.items())
            if fired
            else "none (its checks.py printed nothing)"
        ),
    ]
    notes += [f"  {line}" for line in warned["lines"]]
    if "square" in reference["attacks"] and "square" not in reference["attacks_run"]:
        notes.append(
            "  (no image was left for Square in the reference, so check_square_sr had nothing "
            "to compare)"
        )
    if reference["python_warnings"]:
        notes.append(
            f"  {len(reference['python_warnings'])} Python warning(s) raised during the "
            "reference's run: in the JSON (reference_python_warnings)"
        )
    notes += record.get("notes", [])
    notes += [
        f"targets: ours inside the reference's interval "
        f"[{common.check_mark(within)}]; no reference warnings "
        f"[{common.check_mark(not fired)}]",
        "checks: same clean accuracy [{}], reference log agrees [{}], reference labels agree "
        "[{}], ours max perturbation {:.4f} [{}], reference {:.4f} [{}]".format(
            common.check_mark(checks["same_clean_accuracy"]),
            common.check_mark(checks["reference_log_agrees"]),
            common.check_mark(checks["reference_labels_agree"]),
            checks["ours"]["max_perturbation"],
            common.check_mark(
                checks["ours"]["within_eps"] and checks["ours"]["broken_images_fool_the_model"]
            ),
            checks["reference"]["max_perturbation"],
            common.check_mark(
                checks["reference"]["within_eps"]
                and checks["reference"]["broken_images_fool_the_model"]
            ),
        ),
        f"benchmark {record['benchmark_seconds']:.0f} s; load average before "
        f"{record['load_average']['before']}, after {record['load_average']['after']}",
        f"results merged into {path} under '{args.name}'",
    ]
    common.print_table(
        f"AutoAttack ({args.version}, Linf eps {args.pixel_eps:g}), {n} MNIST test images: "
        "fh.autoattack vs the reference",
        ["after", "ours %", "reference %", "diff", "ours s", "reference s"],
        rows,
        notes,
    )
    return 0 if checks_ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
