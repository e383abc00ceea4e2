"""Training throughput of the paper's CNN against this machine's compute bound, in one run.

What is measured
* The bound: the FLOP/s of a large fp32 matrix multiply (``--matmul-size`` squared, default
  2048 x 2048 @ 2048 x 2048), best of ``--matmul-repeats`` runs, at every thread count from 1
  to the number of cores, before and after the training timings; the best of these is the
  machine's bound (on a shared machine the best is the least disturbed).
* FLOPs per image, COUNTED from the layer shapes (2 FLOPs per multiply-add of every Conv2d and
  Linear; biases, ReLUs and the loss are left out) and cross-checked with
  ``torch.utils.flop_counter.FlopCounterMode`` on the real forward/backward passes:
  - clean training step = forward + weight gradients + input gradients of every layer but the
    first (the images need no gradient);
  - FGSM training step (the paper's recipe) as ``fh.run_epoch`` runs it for this model (no
    train/eval-dependent layers): the clean forward + weight gradients + input gradients of
    every layer (the images' gradient is FGSM's direction), then the adversarial forward +
    weight gradients + input gradients of every layer but the first;
  - the same step with a separate attack pass (``run_epoch``'s general path, any model; the
    ``separate_attack`` variant): the attack's forward + input-gradient backward (every
    layer) + its 1-image label check (``fh.fgsm`` checks the labels on ``x[:1]``) + the clean
    training step on 2x the images (clean + adversarial batch).
* Throughput in images/s of one clean epoch and one FGSM adversarial epoch with the package's
  loop: ``fh.run_epoch(model, x, y, optimizer=Adam(lr=2e-3, fused=True),
  attack=fh.training.make_training_attack("fgsm", 0.3), adv_weight=0.5, batch_size=64,
  progress=False)`` (what ``fh.train(..., attack="fgsm")`` runs), over ``--subset``
  training images (default: all 60,000), and the fraction of the bound it reaches
  (images/s x FLOPs per image / bound FLOP/s).
* Variants, each timed on a clean and an FGSM epoch of ``--variant-subset`` images with the
  same loop: batch sizes 128 and 256, Adam with ``foreach=True`` or ``fused=True``,
  ``channels_last``, ``torch.compile`` (compile time reported apart), other thread counts,
  ``OMP_WAIT_POLICY=PASSIVE`` (or unset, when the run has it set; timed in a subprocess:
  OpenMP reads it at start-up; on a shared machine spinning OpenMP threads can cost a lot),
  bfloat16 autocast (not fp32: not comparable to the fp32 bound), a bare loop with the same
  arithmetic but none of ``run_epoch``'s per-batch bookkeeping (``.item()`` calls, input
  checks, the 1-image label check), to price that bookkeeping, and a "shared forward" FGSM step
  (the clean forward/backward gives both the attack's input gradient and the clean half's
  weight gradients: 6 instead of 8 forward-equivalents per image, same arithmetic for this
  model, which has no train/eval-dependent layers), alone and with fused Adam.
* Evaluation: ``fh.predict`` (``torch.no_grad``) against the same loop under
  ``torch.inference_mode``, on ``--eval-images`` test images.
* Micro-costs per batch of 64: the ``.item()`` bookkeeping of ``run_epoch``, ``fh.fgsm`` minus
  a bare FGSM, and one Adam step (default, foreach, fused).

Every timing is preceded by a warm-up of two batches. The variants are timed interleaved: their
images are cut into ``--rounds`` parts, and each part is timed for every variant in turn, so
on a shared machine all variants see the same mix of quiet and busy moments. ``--optimizer``, ``--channels-last``
and ``--threads`` set the headline configuration; the defaults are the fastest measured
settings that keep the paper's recipe (batch 64, Adam, fp32).

    FGSM_DATA_DIR=/work/shared/data .venv/bin/python benchmarks/bench_training.py
    .venv/bin/python benchmarks/bench_training.py --subset 512 --variants none   # smoke
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import common
import torch
import torch.nn.functional as F
from torch import nn

import fgsm_helpers as fh

# What the notebooks' setup cell does (the package never does it at import); the
# allocator_default variant's FGSM_TUNE_ALLOCATOR=0 makes this a no-op in its subprocess.
fh.tune_cpu_allocator()

TRAIN_EPS = 0.3
LR = 2e-3
TARGET_FRACTION = 0.60
PROBE_PREFIX = "PROBE_RESULT "
ALL_VARIANTS = [
    "baseline",
    "batch128",
    "batch256",
    "adam_foreach",
    "adam_fused",
    "channels_last",
    "threads",
    "omp_wait_policy",
    "allocator_default",
    "separate_attack",
    "bare_loop",
    "shared_forward",
    "best",
    "compile",
    "autocast_bf16",
]
# Headline defaults: the fastest measured settings that keep the paper's recipe (see the report
# in benchmarks/results/<machine>.json, "training" -> "variants").
DEFAULT_OPTIMIZER = "fused"
DEFAULT_CHANNELS_LAST = False


# ---------------------------------------------------------------------------------- FLOPs
def layer_flops(model: nn.Module, image_shape=(1, 28, 28)) -> list[dict]:
    """Forward FLOPs per image of every Conv2d and Linear, from their shapes (2 per MAC)."""
    layers: list[dict] = []
    hooks = []

    def hook(module, inputs, output):
        if isinstance(module, nn.Conv2d):
            kh, kw = module.kernel_size
            macs = output[0].numel() * (module.in_channels // module.groups) * kh * kw
            shape = f"conv {module.in_channels}->{module.out_channels} {kh}x{kw}, out {tuple(output.shape[1:])}"
        else:
            macs = module.in_features * module.out_features
            shape = f"linear {module.in_features}->{module.out_features}"
        layers.append({"layer": name_of[module], "shape": shape, "forward_flops": 2 * macs})

    name_of = {}
    for name, module in model.named_modules():
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            name_of[module] = name
            hooks.append(module.register_forward_hook(hook))
    try:
        with torch.no_grad():
            model(torch.zeros(1, *image_shape))
    finally:
        for h in hooks:
            h.remove()
    return layers


def counted_flops(model: nn.Module, batch_size: int) -> dict:
    """FLOPs per image of the clean and the FGSM training step, counted from the layer shapes."""
    layers = layer_flops(model)
    forward = sum(layer["forward_flops"] for layer in layers)
    first = layers[0]["forward_flops"]
    weight_grads = forward
    input_grads_training = forward - first  # the images need no gradient when training
    clean_step = forward + weight_grads + input_grads_training
    attack = forward + forward  # forward + input gradients of every layer
    label_check = forward / batch_size  # fh.fgsm's 1-image forward per batch
    fgsm_step = attack + label_check + 2 * clean_step
    # The shared-forward variant: one forward of the clean images gives both the attack's
    # input gradient and the clean half's weight gradients (all layers' input gradients).
    shared = (forward + weight_grads + forward) + clean_step
    return {
        "layers": layers,
        "forward": forward,
        "clean_step": clean_step,
        "attack": attack,
        "label_check_per_image": label_check,
        "fgsm_step": fgsm_step,
        "fgsm_step_bare": fgsm_step - label_check,
        "fgsm_step_shared_forward": shared,
    }


def flop_counter_check(model: nn.Module, batch_size: int) -> dict:
    """The same quantities from ``FlopCounterMode`` on the real passes (per image).

    The attack's gradient is taken with respect to a non-leaf copy of the images: the flop
    counter's module hooks reject ``autograd.grad`` on a leaf tensor (same arithmetic).
    """
    from torch.utils.flop_counter import FlopCounterMode

    model = model.train()
    x = torch.rand(batch_size, 1, 28, 28)
    y = torch.randint(0, 10, (batch_size,))
    with FlopCounterMode(display=False) as counter:
        model(x)
    forward = counter.get_total_flops() / batch_size
    with FlopCounterMode(display=False) as counter:
        F.cross_entropy(model(x), y).backward()
    clean = counter.get_total_flops() / batch_size
    model.zero_grad(set_to_none=True)
    with FlopCounterMode(display=False) as counter:
        leaf = x.clone().requires_grad_(True)
        x_in = leaf * 1.0
        (grad,) = torch.autograd.grad(F.cross_entropy(model(x_in), y, reduction="sum"), x_in)
    attack = counter.get_total_flops() / batch_size
    with FlopCounterMode(display=False) as counter:
        F.cross_entropy(model(torch.cat([x, x])), torch.cat([y, y])).backward()
    clean_double = counter.get_total_flops() / batch_size
    model.zero_grad(set_to_none=True)
    with FlopCounterMode(display=False) as counter:
        x_grad = x.clone().requires_grad_(True)
        F.cross_entropy(model(x_grad), y).backward()
        F.cross_entropy(model(x_grad.detach()), y).backward()
    shared = counter.get_total_flops() / batch_size
    model.zero_grad(set_to_none=True)
    return {
        "forward": forward,
        "clean_step": clean,
        "attack": attack,
        "fgsm_step": attack + forward / batch_size + clean_double,
        "fgsm_step_shared_forward": shared,
    }


def matmul_bound(size: int, repeats: int) -> dict:
    """Best FLOP/s of an fp32 ``size x size @ size x size`` matrix multiply."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    out = torch.empty(size, size)
    torch.mm(a, b, out=out)  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        torch.mm(a, b, out=out)
        times.append(time.perf_counter() - start)
    flops = 2 * size**3
    return {
        "size": size,
        "repeats": repeats,
        "best_seconds": min(times),
        "flops_per_second": flops / min(times),
        "median_flops_per_second": flops / sorted(times)[len(times) // 2],
    }


# ------------------------------------------------------------------------------- training
def make_optimizer(model: nn.Module, kind: str) -> torch.optim.Optimizer:
    kwargs = {"default": {}, "foreach": {"foreach": True}, "fused": {"fused": True}}[kind]
    return torch.optim.Adam(model.parameters(), lr=LR, **kwargs)


# fh.train's attack object: run_epoch takes the FGSM gradient from the clean backward pass
FGSM_TRAINING_ATTACK = fh.training.make_training_attack("fgsm", TRAIN_EPS)


def fgsm_attack_separate(model, x_batch, y_batch):
    """A plain callable: run_epoch's general path (a separate FGSM forward/backward)."""
    return fh.fgsm(model, x_batch, y_batch, TRAIN_EPS)


def bare_epoch(
    model,
    x,
    y,
    *,
    optimizer,
    attack: bool,
    batch_size: int,
    generator,
    autocast=None,
    shared_forward: bool = False,
):
    """``run_epoch``'s arithmetic without its bookkeeping: no ``.item()``, input checks, label
    check, trace or accuracy counts. ``shared_forward``: see ``counted_flops``."""
    order = torch.randperm(len(x), generator=generator)
    for start in range(0, len(x), batch_size):
        index = order[start : start + batch_size]
        x_batch, y_batch = x[index], y[index]
        with autocast() if autocast else contextlib.nullcontext():
            if attack and shared_forward:
                # same arithmetic as the paper's step for a model without train/eval-dependent
                # layers: the clean forward serves the attack and the clean half of the loss
                model.train()
                x_grad = x_batch.detach().requires_grad_(True)
                optimizer.zero_grad(set_to_none=True)
                (0.5 * F.cross_entropy(model(x_grad), y_batch)).backward()
                x_adv = (x_batch + TRAIN_EPS * x_grad.grad.sign()).clamp_(0.0, 1.0)
                (0.5 * F.cross_entropy(model(x_adv), y_batch)).backward()
                optimizer.step()
                continue
            if attack:
                model.eval()
                x_grad = x_batch.detach().requires_grad_(True)
                loss = F.cross_entropy(model(x_grad), y_batch, reduction="sum")
                (grad,) = torch.autograd.grad(loss, x_grad)
                x_adv = (x_batch + TRAIN_EPS * grad.sign()).clamp_(0.0, 1.0)
                model.train()
                n = len(x_batch)
                logits = model(torch.cat([x_batch, x_adv]))
                loss = 0.5 * F.cross_entropy(logits[:n], y_batch) + 0.5 * F.cross_entropy(
                    logits[n:], y_batch
                )
            else:
                model.train()
                loss = F.cross_entropy(model(x_batch), y_batch)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    model.eval()


class Setup:
    """One training configuration: batch size, optimizer, memory format, compile, threads."""

    def __init__(
        self,
        name,
        *,
        batch_size=64,
        optimizer="default",
        channels_last=False,
        compile=False,
        threads=None,
        loop="package",
        autocast_bf16=False,
        env=None,
    ):
        self.name, self.batch_size, self.optimizer = name, batch_size, optimizer
        self.channels_last, self.compile, self.threads = channels_last, compile, threads
        self.loop, self.autocast_bf16 = loop, autocast_bf16
        self.env = env  # environment variables read at start-up: timed in a subprocess

    def describe(self) -> dict:
        return {k: v for k, v in vars(self).items()}

    def flops(self, counted: dict) -> tuple[float, float]:
        """FLOPs per image of this setup's clean and FGSM steps."""
        fgsm = {
            "package": "fgsm_step_shared_forward",
            "separate": "fgsm_step",
            "bare": "fgsm_step_bare",
            "shared": "fgsm_step_shared_forward",
        }[self.loop]
        return counted["clean_step"], counted[fgsm]

    def build(self):
        torch.manual_seed(0)
        model = fh.PaperCNN()
        if self.channels_last:
            model = model.to(memory_format=torch.channels_last)
        optimizer = make_optimizer(model, self.optimizer)
        runner = torch.compile(model, dynamic=False) if self.compile else model
        return model, runner, optimizer

    def prepare(self, x):
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x

    def epoch(self, runner, optimizer, x, y, attack: bool):
        generator = torch.Generator().manual_seed(0)
        autocast = (
            (lambda: torch.autocast("cpu", dtype=torch.bfloat16)) if self.autocast_bf16 else None
        )
        if self.loop in ("bare", "shared") or autocast:
            bare_epoch(
                runner,
                x,
                y,
                optimizer=optimizer,
                attack=attack,
                batch_size=self.batch_size,
                generator=generator,
                autocast=autocast,
                shared_forward=self.loop == "shared",
            )
        else:
            fgsm = FGSM_TRAINING_ATTACK if self.loop == "package" else fgsm_attack_separate
            fh.run_epoch(
                runner,
                x,
                y,
                optimizer=optimizer,
                attack=fgsm if attack else None,
                adv_weight=0.5,
                batch_size=self.batch_size,
                generator=generator,
                progress=False,
            )


class Timing:
    """One setup's model, optimizer and summed epoch times; epochs can be timed piece by piece
    (interleaved with other setups) and are summed per kind (clean, FGSM)."""

    def __init__(self, setup: Setup, default_threads: int) -> None:
        self.setup, self.default_threads = setup, default_threads
        self.threads = setup.threads or default_threads
        self.seconds = {"clean": 0.0, "fgsm": 0.0}
        self.images = {"clean": 0, "fgsm": 0}
        self.warmup_seconds = 0.0
        with self._threads():
            self.model, self.runner, self.optimizer = setup.build()

    def _threads(self):
        @contextlib.contextmanager
        def scope():
            torch.set_num_threads(self.threads)
            try:
                yield
            finally:
                torch.set_num_threads(self.default_threads)

        return scope()

    def warmup(self, x, y, batches: int = 2) -> None:
        warm = min(self.setup.batch_size * batches, len(x))
        x = self.setup.prepare(x[:warm])
        with self._threads():
            start = time.perf_counter()
            for attack in (False, True):
                self.setup.epoch(self.runner, self.optimizer, x, y[:warm], attack)
            self.warmup_seconds += time.perf_counter() - start

    def epoch(self, x, y, label: str) -> None:
        x = self.setup.prepare(x)
        with self._threads():
            start = time.perf_counter()
            self.setup.epoch(self.runner, self.optimizer, x, y, label == "fgsm")
            self.seconds[label] += time.perf_counter() - start
        self.images[label] += len(x)

    def result(self) -> dict:
        out = {
            "threads": self.threads,
            "warmup_seconds": self.warmup_seconds,
            "images": self.images["clean"],
        }
        for label in ("clean", "fgsm"):
            out[label] = {
                "seconds": self.seconds[label],
                "images_per_second": self.images[label] / self.seconds[label],
            }
        return out


def measure(setup: Setup, x, y, default_threads: int) -> dict:
    """Images/s of one clean and one FGSM epoch of ``setup`` over ``(x, y)``."""
    if setup.env:
        return measure_in_subprocess(setup, len(x), setup.threads or default_threads)
    timing = Timing(setup, default_threads)
    timing.warmup(x, y)
    timing.epoch(x, y, "clean")
    timing.epoch(x, y, "fgsm")
    return timing.result()


def measure_interleaved(setups: list[Setup], x, y, default_threads: int, rounds: int) -> list[dict]:
    """Like ``measure`` for every setup, but the images are cut into ``rounds`` parts and each
    part is timed for every setup in turn (the order rotating from round to round), so all
    setups see the same mix of quiet and busy moments on a shared machine. Setups that need
    their own environment (``env``) run in a subprocess on all the images, not interleaved."""
    results: list[dict | None] = [None] * len(setups)
    timings: dict[int, Timing] = {}
    for index, setup in enumerate(setups):
        try:
            if setup.env:
                results[index] = {**measure(setup, x, y, default_threads), "interleaved": False}
            else:
                timings[index] = Timing(setup, default_threads)
                timings[index].warmup(x, y)
        except Exception as err:  # e.g. torch.compile without a compiler: report, go on
            results[index] = {"error": f"{type(err).__name__}: {str(err)[:300]}"}
    parts = torch.tensor_split(torch.arange(len(x)), max(1, min(rounds, len(x) // 64 or 1)))
    order = list(timings)
    for round_index, part in enumerate(parts):
        rotated = (
            order[round_index % len(order) :] + order[: round_index % len(order)] if order else []
        )
        for index in rotated:
            if results[index] is not None:
                continue
            try:
                for label in ("clean", "fgsm"):
                    timings[index].epoch(x[part], y[part], label)
            except Exception as err:
                results[index] = {"error": f"{type(err).__name__}: {str(err)[:300]}"}
    for index, timing in timings.items():
        if results[index] is None:
            results[index] = {**timing.result(), "interleaved": True, "rounds": len(parts)}
    return results


def measure_in_subprocess(setup: Setup, images: int, threads: int) -> dict:
    """``measure`` in a fresh interpreter with ``setup.env`` added to the environment (for
    settings such as OMP_WAIT_POLICY that the OpenMP runtime reads only at start-up)."""
    description = {k: v for k, v in setup.describe().items() if k != "env"}
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--probe",
        json.dumps(description),
        "--probe-images",
        str(images),
        "--threads",
        str(threads),
    ]
    env = {**os.environ, **setup.env}
    env = {k: v for k, v in env.items() if v is not None}  # None: unset the variable
    completed = subprocess.run(command, env=env, capture_output=True, text=True, timeout=3600)
    for line in completed.stdout.splitlines():
        if line.startswith(PROBE_PREFIX):
            return json.loads(line[len(PROBE_PREFIX) :])
    raise RuntimeError(f"probe failed (exit {completed.returncode}): {completed.stderr[-500:]}")


def probe_main(args) -> int:
    """The subprocess side of ``measure_in_subprocess``: time one setup, print it as JSON."""
    threads = common.setup_threads(args.threads)
    common.resolve_data_dir(args.data_dir)
    x_train, y_train = fh.load_mnist("train")
    setup = Setup(**json.loads(args.probe))
    result = measure(setup, x_train[: args.probe_images], y_train[: args.probe_images], threads)
    print(PROBE_PREFIX + json.dumps(result), flush=True)
    return 0


def variant_setups(names: list[str], default_threads: int, cores: int) -> list[Setup]:
    setups = []
    for name in names:
        if name == "baseline":
            setups.append(Setup("baseline: run_epoch, batch 64, Adam"))
        elif name.startswith("batch"):
            size = int(name[5:])
            setups.append(Setup(f"batch {size}", batch_size=size))
        elif name == "adam_foreach":
            setups.append(Setup("Adam(foreach=True)", optimizer="foreach"))
        elif name == "adam_fused":
            setups.append(Setup("Adam(fused=True)", optimizer="fused"))
        elif name == "channels_last":
            setups.append(Setup("channels_last", channels_last=True))
        elif name == "threads":
            for threads in range(1, max(cores, default_threads) + 1):
                if threads != default_threads:
                    setups.append(Setup(f"{threads} thread(s)", threads=threads))
        elif name == "omp_wait_policy":
            # the other side of the run's own setting: PASSIVE if unset here, else unset
            if os.environ.get("OMP_WAIT_POLICY"):
                setups.append(
                    Setup("OMP_WAIT_POLICY unset (subprocess)", env={"OMP_WAIT_POLICY": None})
                )
            else:
                setups.append(
                    Setup(
                        "OMP_WAIT_POLICY=PASSIVE (subprocess)", env={"OMP_WAIT_POLICY": "PASSIVE"}
                    )
                )
        elif name == "allocator_default":
            # the headline runs with fh.tune_cpu_allocator() (called above); this variant without
            setups.append(
                Setup(
                    "glibc malloc defaults (FGSM_TUNE_ALLOCATOR=0, subprocess)",
                    env={"FGSM_TUNE_ALLOCATOR": "0"},
                )
            )
        elif name == "separate_attack":
            setups.append(Setup("run_epoch, separate FGSM pass (before)", loop="separate"))
        elif name == "bare_loop":
            setups.append(Setup("bare loop (no bookkeeping)", loop="bare"))
        elif name == "shared_forward":
            setups.append(Setup("bare + shared clean forward", loop="shared"))
        elif name == "best":
            setups.append(
                Setup("fused Adam + bare + shared forward", loop="shared", optimizer="fused")
            )
        elif name == "compile":
            setups.append(Setup("torch.compile (+fused Adam)", compile=True, optimizer="fused"))
        elif name == "autocast_bf16":
            setups.append(
                Setup(
                    "bf16 autocast, bare (not fp32)",
                    autocast_bf16=True,
                    loop="bare",
                    optimizer="fused",
                )
            )
        else:
            raise SystemExit(f"unknown variant {name!r}; choose from {ALL_VARIANTS} or 'none'")
    return setups


def shared_forward_equivalence(x, y, batch_size: int = 64) -> dict:
    """How far the shared-forward FGSM step is from ``run_epoch``'s, on one batch from the same
    weights: the share of adversarial pixels that differ, and the relative difference of the
    weight gradients (float rounding only, if the two are the same arithmetic)."""
    torch.manual_seed(0)
    model = fh.PaperCNN()
    x_batch, y_batch = x[:batch_size], y[:batch_size]
    n = len(x_batch)
    # run_epoch's step: fh.fgsm, then one forward of the clean and adversarial images
    x_adv = fh.fgsm(model, x_batch, y_batch, TRAIN_EPS)
    model.train()
    logits = model(torch.cat([x_batch, x_adv]))
    loss = 0.5 * F.cross_entropy(logits[:n], y_batch) + 0.5 * F.cross_entropy(logits[n:], y_batch)
    reference = torch.autograd.grad(loss, list(model.parameters()))
    # shared forward
    model.zero_grad(set_to_none=True)
    x_grad = x_batch.detach().requires_grad_(True)
    (0.5 * F.cross_entropy(model(x_grad), y_batch)).backward()
    x_adv_shared = (x_batch + TRAIN_EPS * x_grad.grad.sign()).clamp_(0.0, 1.0)
    (0.5 * F.cross_entropy(model(x_adv_shared), y_batch)).backward()
    shared = [p.grad for p in model.parameters()]
    flat_ref = torch.cat([g.flatten() for g in reference])
    flat_shared = torch.cat([g.flatten() for g in shared])
    return {
        "adversarial_pixels_differing": (x_adv != x_adv_shared).float().mean().item(),
        "gradient_relative_difference": ((flat_ref - flat_shared).norm() / flat_ref.norm()).item(),
    }


# ----------------------------------------------------------------------------- evaluation
def eval_throughput(model, x, batch_size: int, repeats: int = 3) -> dict:
    """Images/s of ``fh.predict`` (no_grad) and of the same loop under ``inference_mode``,
    best of ``repeats`` runs, the two alternating."""

    def predict_inference_mode():
        with torch.inference_mode():
            return torch.cat(
                [model(x[i : i + batch_size]).argmax(dim=1) for i in range(0, len(x), batch_size)]
            )

    functions = {
        "no_grad (fh.predict)": lambda: fh.predict(model, x, batch_size),
        "inference_mode": predict_inference_mode,
    }
    best = dict.fromkeys(functions, float("inf"))
    fh.predict(model, x[:batch_size], batch_size)
    predict_inference_mode()
    for _ in range(repeats):
        for label, fn in functions.items():
            start = time.perf_counter()
            fn()
            best[label] = min(best[label], time.perf_counter() - start)
    return {label: {"seconds": t, "images_per_second": len(x) / t} for label, t in best.items()}


# ---------------------------------------------------------------------------- micro costs
def micro_costs(batch_size: int = 64, repeats: int = 20) -> dict:
    """Per-batch costs (ms) of run_epoch's bookkeeping, fh.fgsm's extras and one Adam step."""
    torch.manual_seed(0)
    model = fh.PaperCNN()
    x = torch.rand(batch_size, 1, 28, 28)
    y = torch.randint(0, 10, (batch_size,))

    def best_ms(fn):
        fn()
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
        return 1000 * sorted(times)[len(times) // 2]

    logits = model(torch.cat([x, x])).detach()
    loss = F.cross_entropy(logits[:batch_size], y)

    def bookkeeping():
        total = loss.item() * batch_size
        total += (logits[:batch_size].argmax(1) == y).sum().item()
        total += (logits[batch_size:].argmax(1) == y).sum().item()
        return total

    def bare_fgsm():
        x_grad = x.detach().requires_grad_(True)
        (grad,) = torch.autograd.grad(F.cross_entropy(model(x_grad), y, reduction="sum"), x_grad)
        return (x + TRAIN_EPS * grad.sign()).clamp_(0, 1)

    model.eval()
    out = {
        "batch_size": batch_size,
        "run_epoch_item_bookkeeping_ms": best_ms(bookkeeping),
        "fh_fgsm_ms": best_ms(lambda: fh.fgsm(model, x, y, TRAIN_EPS)),
        "bare_fgsm_ms": best_ms(bare_fgsm),
    }
    out["fh_fgsm_extra_ms"] = out["fh_fgsm_ms"] - out["bare_fgsm_ms"]
    for p in model.parameters():
        p.grad = torch.randn_like(p)
    for kind in ("default", "foreach", "fused"):
        optimizer = make_optimizer(model, kind)
        out[f"adam_{kind}_step_ms"] = best_ms(optimizer.step)
    return out


# ----------------------------------------------------------------------------------- main
def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    common.add_common_arguments(parser)
    parser.add_argument(
        "--subset",
        type=int,
        default=60000,
        help="training images of the headline clean and FGSM epochs (default 60000)",
    )
    parser.add_argument(
        "--batch-size", type=int, default=64, help="headline batch size (paper: 64)"
    )
    parser.add_argument(
        "--optimizer",
        choices=["default", "foreach", "fused"],
        default=DEFAULT_OPTIMIZER,
        help=f"headline Adam implementation (default {DEFAULT_OPTIMIZER})",
    )
    parser.add_argument(
        "--channels-last",
        action=argparse.BooleanOptionalAction,
        default=DEFAULT_CHANNELS_LAST,
        help="headline model in channels_last",
    )
    parser.add_argument(
        "--variant-subset",
        type=int,
        default=3200,
        help="training images per variant epoch (default 3200)",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=4,
        help="variant timings interleaved over this many parts of the images (default 4)",
    )
    parser.add_argument(
        "--variants",
        nargs="+",
        default=ALL_VARIANTS,
        help=f"variants to time ('none' for none; default: {' '.join(ALL_VARIANTS)})",
    )
    parser.add_argument(
        "--eval-images", type=int, default=10000, help="test images for the evaluation timing"
    )
    parser.add_argument(
        "--eval-batch-size", type=int, default=100, help="evaluation batch size (package: 100)"
    )
    parser.add_argument(
        "--matmul-size", type=int, default=2048, help="side of the bound's square matmul"
    )
    parser.add_argument(
        "--matmul-repeats", type=int, default=7, help="matmul runs; the best is the bound"
    )
    parser.add_argument(
        "--micro-repeats",
        type=int,
        default=20,
        help="runs per per-batch micro-cost timing; the median is kept (default 20)",
    )
    parser.add_argument(
        "--name",
        default="training",
        help="key of this record in the results JSON (default 'training')",
    )
    parser.add_argument("--probe", help=argparse.SUPPRESS)  # internal: see measure_in_subprocess
    parser.add_argument("--probe-images", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.probe:
        return probe_main(args)
    variants = [] if args.variants == ["none"] else args.variants

    started = time.perf_counter()
    threads = common.setup_threads(args.threads)
    common.resolve_data_dir(args.data_dir)
    config = {k: (str(v) if k == "results" else v) for k, v in vars(args).items()}
    record = common.new_record(args.name, threads, config)
    figures = record["figures"]
    cores = record["machine"].get("usable_cores") or record["machine"]["logical_cores"]

    x_train, y_train = fh.load_mnist("train")
    x_test, _ = fh.load_mnist("test")
    x, y = x_train[: args.subset], y_train[: args.subset]
    xv, yv = x_train[: args.variant_subset], y_train[: args.variant_subset]

    # FLOPs per image: counted, and cross-checked
    counted = counted_flops(fh.PaperCNN(), args.batch_size)
    checked = flop_counter_check(fh.PaperCNN(), args.batch_size)
    flop_diff = {k: checked[k] / counted[k] - 1 for k in checked}
    figures["flops_per_image_counted"] = counted
    figures["flops_per_image_flop_counter"] = checked
    figures["flops_relative_difference"] = flop_diff

    def flops_for(setup):
        return setup.flops(counted_flops(fh.PaperCNN(), setup.batch_size))

    # the bound, at every thread count, before and after the training timings (the machine
    # may be shared): the best of all these is the machine's bound
    bound_threads = sorted({threads, *range(1, cores + 1)})

    def bound_sweep():
        out = {}
        for count in bound_threads:
            torch.set_num_threads(count)
            out[str(count)] = matmul_bound(args.matmul_size, args.matmul_repeats)
        torch.set_num_threads(threads)
        return out

    bound = bound_sweep()
    print(
        "matmul bound: "
        + ", ".join(
            f"{t} thread(s) {b['flops_per_second'] / 1e9:.1f} GFLOP/s" for t, b in bound.items()
        ),
        flush=True,
    )

    # headline: the paper's recipe with run_epoch
    headline = Setup(
        "headline",
        batch_size=args.batch_size,
        optimizer=args.optimizer,
        channels_last=args.channels_last,
    )
    head = measure(headline, x, y, threads)
    print(
        f"headline: clean {head['clean']['images_per_second']:.0f} img/s, "
        f"FGSM {head['fgsm']['images_per_second']:.0f} img/s",
        flush=True,
    )

    setups = variant_setups(variants, threads, cores)
    results_variants = measure_interleaved(setups, xv, yv, threads, args.rounds)
    for setup, result in zip(setups, results_variants):
        result["setup"] = setup.describe()
        result["name"] = setup.name
        if "error" in result:
            print(f"variant {setup.name}: {result['error']}", flush=True)
        else:
            print(
                f"variant {setup.name}: clean {result['clean']['images_per_second']:.0f} img/s, "
                f"FGSM {result['fgsm']['images_per_second']:.0f} img/s",
                flush=True,
            )

    bound_after = bound_sweep()
    bound_flops = max(
        b["flops_per_second"] for sweep in (bound, bound_after) for b in sweep.values()
    )

    eval_model = fh.PaperCNN().eval()
    evaluation = eval_throughput(eval_model, x_test[: args.eval_images], args.eval_batch_size)
    micro = micro_costs(args.batch_size, args.micro_repeats)
    figures["shared_forward_equivalence"] = shared_forward_equivalence(xv, yv, args.batch_size)

    def fractions(result, setup):
        clean_flops, fgsm_flops = flops_for(setup)
        for label, per_image in (("clean", clean_flops), ("fgsm", fgsm_flops)):
            if label in result:
                r = result[label]
                r["flops_per_image"] = per_image
                r["flops_per_second"] = r["images_per_second"] * per_image
                r["fraction_of_bound"] = r["flops_per_second"] / bound_flops

    fractions(head, headline)
    for result, setup in zip(results_variants, setups):
        fractions(result, setup)
    forward = counted["forward"]
    for r in evaluation.values():
        r["flops_per_second"] = r["images_per_second"] * forward
        r["fraction_of_bound"] = r["flops_per_second"] / bound_flops

    figures.update(
        {
            "bound_matmul": {
                "before": bound,
                "after": bound_after,
                "flops_per_second": bound_flops,
            },
            "headline": {**head, "setup": headline.describe()},
            "variants": results_variants,
            "evaluation": evaluation,
            "micro_costs_ms": micro,
        }
    )
    ok_variants = [
        r for r in results_variants if "error" not in r and not r["setup"]["autocast_bf16"]
    ]
    if ok_variants:
        figures["fastest_fp32_variant"] = {
            label: max(ok_variants, key=lambda r: r[label]["images_per_second"])["name"]
            for label in ("clean", "fgsm")
        }
    record["targets"] = {
        f"{label}_fraction_of_bound": {
            "target": f">= {TARGET_FRACTION}",
            "value": head[label]["fraction_of_bound"],
            "met": head[label]["fraction_of_bound"] >= TARGET_FRACTION,
        }
        for label in ("clean", "fgsm")
    }
    common.finish_record(record, started)
    path = common.merge_results(args.results, args.name, record)

    # the table
    baseline = next((r for r in results_variants if r["name"].startswith("baseline")), None)
    headers = [
        "configuration",
        "batch",
        "epoch",
        "images",
        "seconds",
        "images/s",
        "GFLOP/s",
        "% of bound",
        "vs baseline",
    ]
    rows = []

    def add(name, result, batch_size):
        if "error" in result:
            rows.append([name, batch_size, "-", "-", "-", "-", "-", "-", result["error"][:40]])
            return
        for label in ("clean", "fgsm"):
            r = result[label]
            speed = ""
            if baseline is not None and "error" not in baseline:
                speed = f"{r['images_per_second'] / baseline[label]['images_per_second']:.2f}x"
            rows.append(
                [
                    name if label == "clean" else "",
                    batch_size,
                    "clean" if label == "clean" else "FGSM",
                    result["images"],
                    r["seconds"],
                    r["images_per_second"],
                    r["flops_per_second"] / 1e9,
                    f"{100 * r['fraction_of_bound']:.1f}%",
                    speed,
                ]
            )

    add(
        f"HEADLINE run_epoch, Adam {args.optimizer}"
        + (", channels_last" if args.channels_last else ""),
        head,
        args.batch_size,
    )
    for result in results_variants:
        add(result["name"], result, result["setup"]["batch_size"])
    for label, r in evaluation.items():
        rows.append(
            [
                f"eval: {label}",
                args.eval_batch_size,
                "eval",
                args.eval_images,
                r["seconds"],
                r["images_per_second"],
                r["flops_per_second"] / 1e9,
                f"{100 * r['fraction_of_bound']:.1f}%",
                "",
            ]
        )
    notes = [
        common.header_line(record),
        f"bound: {args.matmul_size}^3 fp32 matmul, best of {args.matmul_repeats}, GFLOP/s before | after "
        "by threads: "
        + ", ".join(
            f"{t}: {bound[t]['flops_per_second'] / 1e9:.1f} | "
            f"{bound_after[t]['flops_per_second'] / 1e9:.1f}"
            for t in bound
        )
        + f"; the best, {bound_flops / 1e9:.1f} GFLOP/s, is the bound",
        f"FLOPs per image (counted from layer shapes | FlopCounterMode): forward "
        f"{counted['forward'] / 1e6:.2f} | {checked['forward'] / 1e6:.2f} M, clean step "
        f"{counted['clean_step'] / 1e6:.2f} | {checked['clean_step'] / 1e6:.2f} M, FGSM step "
        f"{counted['fgsm_step_shared_forward'] / 1e6:.2f} | "
        f"{checked['fgsm_step_shared_forward'] / 1e6:.2f} M (with a separate attack pass "
        f"{counted['fgsm_step'] / 1e6:.2f} | {checked['fgsm_step'] / 1e6:.2f} M) "
        f"(max relative difference {max(abs(v) for v in flop_diff.values()):.1e})",
        f"target: >= {100 * TARGET_FRACTION:.0f}% of the bound -- headline clean "
        f"{100 * head['clean']['fraction_of_bound']:.1f}% "
        f"[{common.check_mark(head['clean']['fraction_of_bound'] >= TARGET_FRACTION)}], FGSM "
        f"{100 * head['fgsm']['fraction_of_bound']:.1f}% "
        f"[{common.check_mark(head['fgsm']['fraction_of_bound'] >= TARGET_FRACTION)}]",
        f"per batch of {micro['batch_size']} (median ms): run_epoch .item() bookkeeping "
        f"{micro['run_epoch_item_bookkeeping_ms']:.3f}; fh.fgsm {micro['fh_fgsm_ms']:.1f} vs bare "
        f"FGSM {micro['bare_fgsm_ms']:.1f} (extra {micro['fh_fgsm_extra_ms']:.1f}); Adam step "
        f"default {micro['adam_default_step_ms']:.1f}, foreach {micro['adam_foreach_step_ms']:.1f}, "
        f"fused {micro['adam_fused_step_ms']:.1f}",
        "shared forward = one forward of the clean batch gives the attack's input gradient and the "
        "clean half's weight gradients (same arithmetic for a model without train/eval-dependent "
        "layers); against run_epoch's step on one batch: "
        f"{100 * figures['shared_forward_equivalence']['adversarial_pixels_differing']:.3g}% of the "
        "adversarial pixels differ, weight gradients differ by "
        f"{figures['shared_forward_equivalence']['gradient_relative_difference']:.1e} (relative)",
        "variants: the baseline's recipe with one change each, on "
        f"{args.variant_subset} images, timed interleaved over {args.rounds} rounds (subprocess "
        "ones apart); 'vs baseline' compares with that row",
        f"load average before {record['load_average']['before']}, after {record['load_average']['after']}",
        f"results merged into {path}",
    ]
    if "fastest_fp32_variant" in figures:
        notes.insert(
            -2,
            f"fastest fp32 variant: clean {figures['fastest_fp32_variant']['clean']}, "
            f"FGSM {figures['fastest_fp32_variant']['fgsm']}",
        )
    common.print_table(
        "Training throughput, PaperCNN on MNIST (fp32 unless marked)", headers, rows, notes
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
