"""FGSM eps sweep: accuracy of the paper's CNN at 8 eps values (0.1 .. 0.8) on the 10,000 MNIST
test images, timed three ways in one run.

* ours: ``fh.robustness_curve(model, x, y, eps_list)``, which computes the gradient sign once per
  batch and reuses it for every eps (one forward+backward per batch, then one forward per eps).
  Timed at ``--batch-size`` and at each of ``--try-batch-sizes``; the fastest is reported.
* (a) torchattacks: ``torchattacks.FGSM(model, eps=eps)`` called once per eps over the same
  batches (same batch size as ours), accuracy counted the same way (``torch.inference_mode``
  forward, argmax == label).
* (b) the PyTorch FGSM tutorial's ``test()`` loop (pytorch.org/tutorials/beginner/
  fgsm_tutorial.html), reproduced faithfully: batch size 1, for each eps and each image a
  forward pass, skip if already misclassified, loss, ``model.zero_grad()``, ``loss.backward()``,
  ``data.grad.sign()``, perturb, clamp, forward, compare. Only a fixed random sample of
  ``--tutorial-images`` images (default 500) is timed per eps; its time is extrapolated
  linearly to the full image count (said so in the output). The tutorial's model returns
  log-softmax and uses ``F.nll_loss``; the paper's CNN returns logits, so the loop uses
  ``F.cross_entropy`` (the same loss and gradient). Data comes from in-memory tensors, not a
  DataLoader, which only favours the tutorial.

Timing on a shared machine: the images are cut into ``--chunks`` chunks (default 5, whole
batches of every batch size) and, chunk by chunk, ours (every batch size), (a) and the
tutorial loop on its share of the sample are timed in turn; each method's times are summed. So
every method sees the same mix of quiet and busy moments, and the ratios stay meaningful
when other work is running (the absolute times do not). A warm-up batch of each runs first.

Checks: ours equals torchattacks at every eps (within ``--tolerance`` points, default 0.05);
the tutorial loop on its sample equals ours on the same images, counted the tutorial's way
(an image misclassified before the attack counts as wrong; one image of slack for a gradient
sign that flips between batch size 1 and a batch). The plain ``robustness_curve`` on the sample
is reported beside it.

The model is trained first (``fh.train`` on ``--train-images`` training images, one epoch,
seed 0) so that the accuracies mean something, or loaded with ``--checkpoint``.

    FGSM_DATA_DIR=/work/shared/data .venv/bin/python benchmarks/bench_eps_sweep.py
    .venv/bin/python benchmarks/bench_eps_sweep.py --images 200 --tutorial-images 20   # smoke
"""

from __future__ import annotations

import argparse
import math
import time

import common
import torch
import torch.nn.functional as F

import fgsm_helpers as fh

DEFAULT_EPS = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]
TARGET_VS_TORCHATTACKS = 2.5
TARGET_VS_TUTORIAL = 8.0

fh.tune_cpu_allocator()  # as the notebooks' setup cell does: training and sweeps reuse buffers


# ------------------------------------------------------------------------------- the three
def sweep_ours(model, x, y, eps_list, batch_size):
    return fh.robustness_curve(model, x, y, eps_list, batch_size=batch_size)


def sweep_torchattacks(model, x, y, eps_list, batch_size):
    """torchattacks.FGSM, one attack object and one full pass over the batches per eps."""
    import torchattacks

    model.eval()
    accuracies = {}
    for eps in eps_list:
        attack = torchattacks.FGSM(model, eps=eps)
        correct = 0
        for start in range(0, len(x), batch_size):
            x_batch, y_batch = x[start : start + batch_size], y[start : start + batch_size]
            x_adv = attack(x_batch, y_batch)
            with torch.inference_mode():
                correct += (model(x_adv).argmax(dim=1) == y_batch).sum().item()
        accuracies[float(eps)] = 100.0 * correct / len(x)
    return accuracies


def tutorial_fgsm_attack(image, epsilon, data_grad):
    """The tutorial's ``fgsm_attack``."""
    sign_data_grad = data_grad.sign()
    perturbed_image = image + epsilon * sign_data_grad
    perturbed_image = torch.clamp(perturbed_image, 0, 1)
    return perturbed_image


def tutorial_test(model, device, test_loader, epsilon):
    """The tutorial's ``test()`` function, unchanged except for the loss (see the docstring)
    and no denormalization (the paper's CNN takes pixels in [0, 1] and normalizes itself)."""
    correct = 0
    adv_examples = []
    for data, target in test_loader:
        data, target = data.to(device), target.to(device)
        data.requires_grad = True
        output = model(data)
        init_pred = output.max(1, keepdim=True)[1]
        if init_pred.item() != target.item():
            continue
        loss = F.cross_entropy(output, target)  # tutorial: F.nll_loss on log_softmax outputs
        model.zero_grad()
        loss.backward()
        data_grad = data.grad.data
        perturbed_data = tutorial_fgsm_attack(data, epsilon, data_grad)
        output = model(perturbed_data)
        final_pred = output.max(1, keepdim=True)[1]
        if final_pred.item() == target.item():
            correct += 1
            if epsilon == 0 and len(adv_examples) < 5:
                adv_ex = perturbed_data.squeeze().detach().cpu().numpy()
                adv_examples.append((init_pred.item(), final_pred.item(), adv_ex))
        else:
            if len(adv_examples) < 5:
                adv_ex = perturbed_data.squeeze().detach().cpu().numpy()
                adv_examples.append((init_pred.item(), final_pred.item(), adv_ex))
    final_acc = correct / float(len(test_loader))
    return final_acc, adv_examples


def sweep_tutorial(model, x, y, eps_list):
    model.eval()
    loader = [(x[i : i + 1], y[i : i + 1]) for i in range(len(x))]
    return {float(eps): 100.0 * tutorial_test(model, "cpu", loader, eps)[0] for eps in eps_list}


def tutorial_rule_accuracy(model, x, y, eps_list, batch_size):
    """Ours (``fh.fgsm_direction`` once per batch), counted the tutorial's way: an image
    counts only if it is classified right both before and after the attack."""
    correct = torch.zeros(len(eps_list), dtype=torch.long)
    model.eval()
    for start in range(0, len(x), batch_size):
        x_batch, y_batch = x[start : start + batch_size], y[start : start + batch_size]
        direction = fh.fgsm_direction(model, x_batch, y_batch)
        with torch.inference_mode():
            clean_ok = model(x_batch).argmax(1) == y_batch
            for i, eps in enumerate(eps_list):
                x_adv = (x_batch + eps * direction).clamp(0, 1)
                correct[i] += (clean_ok & (model(x_adv).argmax(1) == y_batch)).sum()
    return {float(eps): 100.0 * correct[i].item() / len(x) for i, eps in enumerate(eps_list)}


# ---------------------------------------------------------------------------------- timing
def max_diff(a, b):
    return max(abs(a[k] - b[k]) for k in a)


def get_model(args, record):
    if args.checkpoint:
        model, meta = fh.load_checkpoint(args.checkpoint, "PaperCNN")
        record["config"]["model"] = f"checkpoint {args.checkpoint}"
        return model.eval()
    x_train, y_train = fh.load_mnist("train")
    fh.set_seed(0)
    model = fh.PaperCNN()
    start = time.perf_counter()
    fh.train(
        model, x_train[: args.train_images], y_train[: args.train_images], progress=False, seed=0
    )
    record["figures"]["model_training_seconds"] = time.perf_counter() - start
    record["config"]["model"] = (
        f"PaperCNN, fh.train 1 epoch on {args.train_images} training images, seed 0"
    )
    return model.eval()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    common.add_common_arguments(parser)
    parser.add_argument(
        "--images", type=int, default=10000, help="test images swept (default 10000)"
    )
    parser.add_argument(
        "--tutorial-images",
        type=int,
        default=500,
        help="images timed with the tutorial's batch-1 loop, then extrapolated (default 500)",
    )
    parser.add_argument(
        "--batch-size",
        type=int,
        default=100,
        help="batch size of the ours-vs-torchattacks comparison (default: the package's 100)",
    )
    parser.add_argument(
        "--try-batch-sizes",
        type=int,
        nargs="*",
        default=[200],
        help="other batch sizes timed for ours (default 200)",
    )
    parser.add_argument(
        "--eps", type=float, nargs="+", default=DEFAULT_EPS, help="eps values (pixel units)"
    )
    parser.add_argument(
        "--checkpoint", help="a PaperCNN checkpoint (fh.save_checkpoint) instead of training"
    )
    parser.add_argument(
        "--train-images", type=int, default=10000, help="training images for the quick model"
    )
    parser.add_argument(
        "--name",
        default="eps_sweep",
        help="key of this record in the results JSON (default 'eps_sweep')",
    )
    parser.add_argument(
        "--chunks",
        type=int,
        default=5,
        help="timings interleaved over this many chunks of the images (default 5)",
    )
    parser.add_argument(
        "--tolerance",
        type=float,
        default=0.05,
        help="allowed accuracy difference ours vs torchattacks, in points (default 0.05)",
    )
    args = parser.parse_args(argv)

    started = time.perf_counter()
    threads = common.setup_threads(args.threads)
    common.resolve_data_dir(args.data_dir)
    config = {k: (str(v) if k in ("results",) else v) for k, v in vars(args).items()}
    record = common.new_record(args.name, threads, config)

    model = get_model(args, record)
    x_test, y_test = fh.load_mnist("test")
    x, y = x_test[: args.images], y_test[: args.images]
    n, eps_list, n_eps = len(x), list(args.eps), len(args.eps)
    sample = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))[
        : args.tutorial_images
    ]
    x_sample, y_sample = x[sample], y[sample]
    figures = record["figures"]
    figures["clean_accuracy"] = fh.accuracy(model, x, y)

    # Warm-up (oneDNN primitive creation, allocator) on one batch of each path.
    sweep_ours(model, x[: args.batch_size], y[: args.batch_size], eps_list[:1], args.batch_size)
    sweep_torchattacks(
        model, x[: args.batch_size], y[: args.batch_size], eps_list[:1], args.batch_size
    )
    sweep_tutorial(model, x_sample[:5], y_sample[:5], eps_list[:1])

    # Timings, interleaved: the images are cut into --chunks chunks (whole batches of every batch
    # size); for each chunk ours (at every batch size), then (a), then the tutorial loop on its
    # share of the sample are timed, and the times are summed. Every method so sees the same
    # mix of quiet and busy moments on a shared machine.
    sizes = list(dict.fromkeys([args.batch_size, *args.try_batch_sizes]))
    unit = math.lcm(*sizes)
    chunk = min(n, unit * math.ceil(n / max(args.chunks, 1) / unit))
    starts = list(range(0, n, chunk))
    sample_parts = torch.tensor_split(torch.arange(len(x_sample)), len(starts))
    seconds = {name: 0.0 for name in [*(("ours", b) for b in sizes), "torchattacks", "tutorial"]}
    counts = {name: torch.zeros(n_eps, dtype=torch.float64) for name in seconds}

    def add(name, fn, images):
        start = time.perf_counter()
        acc = fn()
        seconds[name] += time.perf_counter() - start
        counts[name] += (
            torch.tensor([acc[float(e)] for e in eps_list], dtype=torch.float64) * images / 100
        )

    for index, (first, part) in enumerate(zip(starts, sample_parts)):
        xc, yc = x[first : first + chunk], y[first : first + chunk]
        for b in sizes:
            add(
                ("ours", b),
                lambda xc=xc, yc=yc, b=b: sweep_ours(model, xc, yc, eps_list, b),
                len(xc),
            )
        add(
            "torchattacks",
            lambda xc=xc, yc=yc: sweep_torchattacks(model, xc, yc, eps_list, args.batch_size),
            len(xc),
        )
        if len(part):
            add(
                "tutorial",
                lambda part=part: sweep_tutorial(model, x_sample[part], y_sample[part], eps_list),
                len(part),
            )
        print(
            f"chunk {index + 1}/{len(starts)}: "
            + ", ".join(
                f"{name if isinstance(name, str) else f'ours@{name[1]}'} {t:.1f} s"
                for name, t in seconds.items()
            ),
            flush=True,
        )

    def accuracy_of(name, images):
        return {float(e): (100.0 * counts[name][i] / images).item() for i, e in enumerate(eps_list)}

    ours = {
        b: {"seconds": seconds[("ours", b)], "accuracy": accuracy_of(("ours", b), n)} for b in sizes
    }
    head = ours[args.batch_size]
    best_batch = min(ours, key=lambda b: ours[b]["seconds"])
    seconds_ta, acc_ta = seconds["torchattacks"], accuracy_of("torchattacks", n)
    seconds_tut_sample, acc_tut = seconds["tutorial"], accuracy_of("tutorial", len(x_sample))
    seconds_tut = seconds_tut_sample * n / len(x_sample)

    # accuracy checks
    ours_on_sample = fh.robustness_curve(
        model, x_sample, y_sample, eps_list, batch_size=args.batch_size
    )
    ours_tutorial_rule = tutorial_rule_accuracy(
        model, x_sample, y_sample, eps_list, args.batch_size
    )
    diff_ta = max_diff(head["accuracy"], acc_ta)
    diff_batch_sizes = max(max_diff(head["accuracy"], o["accuracy"]) for o in ours.values())
    diff_tut_rule = max_diff(ours_tutorial_rule, acc_tut)
    diff_tut_plain = max_diff(ours_on_sample, acc_tut)
    one_image = 100.0 / len(x_sample)
    checks = {
        "ours_vs_torchattacks_max_diff_points": diff_ta,
        "ours_vs_torchattacks_ok": diff_ta <= args.tolerance,
        "ours_batch_sizes_max_diff_points": diff_batch_sizes,
        "tutorial_vs_ours_same_counting_max_diff_points": diff_tut_rule,
        "tutorial_vs_ours_same_counting_ok": diff_tut_rule <= one_image + 1e-9,
        "tutorial_vs_ours_plain_max_diff_points": diff_tut_plain,
    }

    ratio_ta = seconds_ta / head["seconds"]
    ratio_tut = seconds_tut / head["seconds"]
    figures.update(
        {
            "images": n,
            "eps": eps_list,
            "batch_size": args.batch_size,
            "ours_seconds": head["seconds"],
            "ours_by_batch_size": {
                str(b): {"seconds": o["seconds"], "images_eps_per_second": n * n_eps / o["seconds"]}
                for b, o in ours.items()
            },
            "ours_fastest_batch_size": best_batch,
            "ours_fastest_seconds": ours[best_batch]["seconds"],
            "torchattacks_seconds": seconds_ta,
            "tutorial_sample_images": len(x_sample),
            "tutorial_sample_seconds": seconds_tut_sample,
            "tutorial_seconds_extrapolated": seconds_tut,
            "speedup_vs_torchattacks": ratio_ta,
            "speedup_vs_tutorial": ratio_tut,
            "speedup_vs_torchattacks_fastest_batch": seconds_ta / ours[best_batch]["seconds"],
            "speedup_vs_tutorial_fastest_batch": seconds_tut / ours[best_batch]["seconds"],
            "accuracy_ours": head["accuracy"],
            "accuracy_torchattacks": acc_ta,
            "accuracy_tutorial_sample": acc_tut,
            "accuracy_ours_sample": ours_on_sample,
            "accuracy_ours_sample_tutorial_counting": ours_tutorial_rule,
            "checks": checks,
        }
    )
    record["targets"] = {
        "speedup_vs_torchattacks": {
            "target": f">= {TARGET_VS_TORCHATTACKS}",
            "value": ratio_ta,
            "met": ratio_ta >= TARGET_VS_TORCHATTACKS,
        },
        "speedup_vs_tutorial": {
            "target": f">= {TARGET_VS_TUTORIAL}",
            "value": ratio_tut,
            "met": ratio_tut >= TARGET_VS_TUTORIAL,
        },
    }
    common.finish_record(record, started)
    path = common.merge_results(args.results, args.name, record)

    # the table
    def acc_cells(acc):
        return [f"{acc[float(e)]:.2f}" for e in eps_list]

    headers = [
        "method",
        "batch",
        "images timed",
        "s (all images)",
        "img*eps/s",
        f"ours@{args.batch_size} faster by",
        "target",
    ] + [f"acc@{e:g}" for e in eps_list]
    rows = []
    for b, o in ours.items():
        tag = " (fastest)" if b == best_batch and len(ours) > 1 else ""
        rows.append(
            [
                f"ours: robustness_curve{tag}",
                b,
                n,
                o["seconds"],
                n * n_eps / o["seconds"],
                "reference" if b == args.batch_size else "",
                "",
            ]
            + acc_cells(o["accuracy"])
        )
    rows.append(
        [
            "(a) torchattacks.FGSM per eps",
            args.batch_size,
            n,
            seconds_ta,
            n * n_eps / seconds_ta,
            f"{ratio_ta:.2f}x",
            f">= {TARGET_VS_TORCHATTACKS}x {common.check_mark(ratio_ta >= TARGET_VS_TORCHATTACKS)}",
        ]
        + acc_cells(acc_ta)
    )
    rows.append(
        [
            "(b) tutorial loop, extrapolated*",
            1,
            len(x_sample),
            seconds_tut,
            n * n_eps / seconds_tut,
            f"{ratio_tut:.2f}x",
            f">= {TARGET_VS_TUTORIAL}x {common.check_mark(ratio_tut >= TARGET_VS_TUTORIAL)}",
        ]
        + acc_cells(acc_tut)
    )
    rows.append(
        ["    ours on the same sample", args.batch_size, len(x_sample), "", "", "", ""]
        + acc_cells(ours_on_sample)
    )
    rows.append(
        ["    same, tutorial's counting", args.batch_size, len(x_sample), "", "", "", ""]
        + acc_cells(ours_tutorial_rule)
    )
    notes = [
        common.header_line(record),
        f"clean accuracy {figures['clean_accuracy']:.2f}% ({record['config']['model']}); "
        f"ratios compare ours at batch {args.batch_size} with (a) at the same batch size.",
        f"* (b) timed on a fixed random sample of {len(x_sample)} images per eps "
        f"({seconds_tut_sample:.2f} s), extrapolated linearly to {n} images; its accuracies are "
        "on the sample (the tutorial counts images misclassified before the attack as wrong).",
        f"timings interleaved over {len(starts)} chunk(s) of {chunk} images; "
        f"fastest batch size for ours: {best_batch} ({ours[best_batch]['seconds']:.2f} s: "
        f"{figures['speedup_vs_torchattacks_fastest_batch']:.2f}x vs (a), "
        f"{figures['speedup_vs_tutorial_fastest_batch']:.2f}x vs (b))",
        f"checks: ours vs (a) max diff {diff_ta:.3f} points "
        f"[{common.check_mark(checks['ours_vs_torchattacks_ok'])}, tolerance {args.tolerance}]; "
        f"(b) vs ours with the tutorial's counting {diff_tut_rule:.3f} points "
        f"[{common.check_mark(checks['tutorial_vs_ours_same_counting_ok'])}, one image = {one_image:.3g}]; "
        f"(b) vs plain ours on the sample {diff_tut_plain:.3f}; ours across batch sizes {diff_batch_sizes:.3f}",
        f"load average before {record['load_average']['before']}, after {record['load_average']['after']}",
        f"results merged into {path}",
    ]
    common.print_table(
        f"FGSM eps sweep: {n} MNIST test images x {n_eps} eps, PaperCNN", headers, rows, notes
    )
    ok = checks["ours_vs_torchattacks_ok"] and checks["tutorial_vs_ours_same_counting_ok"]
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
