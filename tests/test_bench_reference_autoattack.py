"""benchmarks/bench_reference_autoattack.py without running an attack: its arguments, the
loading of the reference AutoAttack from a folder (and the refusal of the ``autoattack``
package torchattacks installs, which shadows it), and the small functions that turn the two
implementations' results into figures. Its end-to-end run is in test_benchmarks.py."""

from __future__ import annotations

import importlib.util
import sys
import types
from pathlib import Path

import pytest
import torch

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture(scope="module")
def bench():
    """The script as a module (it imports ``common`` from benchmarks/)."""
    had_common = "common" in sys.modules
    if not had_common:  # the script's `import common`, from benchmarks/
        spec = importlib.util.spec_from_file_location("common", BENCH / "common.py")
        sys.modules["common"] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(sys.modules["common"])
    try:
        spec = importlib.util.spec_from_file_location(
            "bench_reference_autoattack", BENCH / "bench_reference_autoattack.py"
        )
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        if not had_common:
            sys.modules.pop("common", None)
    return module


def _autoattack_modules() -> dict:
    return {
        n: m for n, m in sys.modules.items() if n == "autoattack" or n.startswith("autoattack.")
    }


@pytest.fixture
def restore_autoattack_modules():
    """Put back whatever ``autoattack`` modules were loaded before the test."""
    saved = _autoattack_modules()
    yield
    for name in _autoattack_modules():
        del sys.modules[name]
    sys.modules.update(saved)


def test_defaults_are_the_standard_evaluation(bench):
    args = bench.parse_args(["--reference", "ref", "--checkpoint", "model.pt"])
    assert args.reference == Path("ref") and args.checkpoint == "model.pt"
    assert (args.n, args.eps, args.pixel_eps, args.version) == (200, 0.3, 0.3, "standard")
    assert (args.square_queries, args.batch_size, args.seed) == (5000, 250, 0)
    assert args.name == "reference_autoattack" and args.device == "cpu"
    assert args.model_name is None


def test_model_name_reads_the_checkpoint_folder(bench):
    args = bench.parse_args(
        ["--reference", "ref", "--model-name", "trades_widecnn", "--n", "50", "--square-queries",
         "100", "--checkpoint-dir", "elsewhere"]
    )  # fmt: skip
    assert (args.model_name, args.checkpoint, args.checkpoint_dir) == (
        "trades_widecnn",
        None,
        "elsewhere",
    )
    assert (args.n, args.square_queries) == (50, 100)
    default = bench.parse_args(["--reference", "ref", "--model-name", "baseline"])
    assert Path(default.checkpoint_dir).parts[-2:] == ("notebooks", "checkpoints")


@pytest.mark.parametrize(
    "argv",
    [
        ["--checkpoint", "model.pt"],  # no --reference
        ["--reference", "ref"],  # no model
        ["--reference", "ref", "--checkpoint", "a.pt", "--model-name", "baseline"],  # both
        ["--reference", "ref", "--model-name", "no_such_model"],
        ["--reference", "ref", "--checkpoint", "a.pt", "--n", "0"],
        ["--reference", "ref", "--checkpoint", "a.pt", "--n", "10001"],
        ["--reference", "ref", "--checkpoint", "a.pt", "--eps", "0"],
        ["--reference", "ref", "--checkpoint", "a.pt", "--eps", "1.5"],
        ["--reference", "ref", "--checkpoint", "a.pt", "--square-queries", "0"],
        ["--reference", "ref", "--checkpoint", "a.pt", "--version", "custom"],
    ],
)
def test_refuses_bad_arguments(bench, argv, capsys):
    with pytest.raises(SystemExit) as raised:
        bench.parse_args(argv)
    assert raised.value.code == 2
    assert "error" in capsys.readouterr().err


def test_a_folder_without_the_package_is_refused(bench, tmp_path):
    with pytest.raises(bench.ReferenceNotFound, match="does not hold the reference AutoAttack"):
        bench.load_reference(tmp_path)


def test_a_module_from_elsewhere_is_refused_as_shadowing(bench, tmp_path):
    shadow = types.ModuleType("autoattack")
    shadow.__file__ = str(tmp_path / "site-packages" / "autoattack" / "__init__.py")
    with pytest.raises(bench.ReferenceNotFound, match="shadows the reference"):
        bench.check_loaded_from(shadow, tmp_path / "reference")
    inside = types.ModuleType("autoattack")
    inside.__file__ = str(tmp_path / "reference" / "autoattack" / "__init__.py")
    assert bench.check_loaded_from(inside, tmp_path / "reference").name == "__init__.py"


def test_the_reference_replaces_a_loaded_shadow(bench, tmp_path, restore_autoattack_modules):
    package = tmp_path / "reference" / "autoattack"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("from .autoattack import AutoAttack\n")
    (package / "autoattack.py").write_text("class AutoAttack:\n    pass\n")
    shadow = types.ModuleType("autoattack")
    shadow.__file__ = str(tmp_path / "site-packages" / "autoattack" / "__init__.py")
    sys.modules["autoattack"] = shadow  # what an earlier plain import would have left

    loaded = bench.load_reference(tmp_path / "reference")
    assert loaded is not shadow and Path(loaded.__file__).parent == package.resolve()
    assert set(bench.check_reference_modules(tmp_path / "reference")) == {
        "autoattack",
        "autoattack.autoattack",
    }
    assert not (package / "__pycache__").exists()  # nothing written into the reference
    assert str(tmp_path / "reference") not in sys.path
    assert bench.reference_version(tmp_path / "reference")["package_sha256"]


def test_recording_state_notes_flags_and_passes_on(bench):
    class State:  # the shape of the reference's EvaluationState
        def __init__(self):
            self._robust_flags, self.run = None, []

        @property
        def robust_flags(self):
            return self._robust_flags

        @robust_flags.setter
        def robust_flags(self, flags):
            self._robust_flags = flags

        def add_run_attack(self, attack):
            self.run.append(attack)

    observed: dict = {}
    state = bench._recording_state(State, observed)()
    flags = torch.tensor([True, True, False])
    state.robust_flags = flags
    flags[0] = False  # the reference changes the flags in place
    state.robust_flags = flags
    state.add_run_attack("apgd-ce")
    assert observed["clean"].tolist() == [True, True, False]
    assert [(a, f.tolist()) for a, f, _ in observed["after"]] == [("apgd-ce", [False, True, False])]
    assert state.run == ["apgd-ce"] and state.robust_flags is flags


def test_figures_from_broken_by(bench):
    broken_by = ["clean", "apgd-ce", None, "square", None]
    after = bench.accuracy_after(broken_by, ["clean", "apgd-ce", "apgd-t", "fab-t", "square"])
    assert after == {"clean": 80.0, "apgd-ce": 60.0, "apgd-t": 60.0, "fab-t": 60.0, "square": 40.0}
    final = bench.final_figure(broken_by)
    assert (final["accuracy"], final["correct"], final["n"]) == (40.0, 2, 5)
    assert 0 < final["wilson_95"][0] < 40 < final["wilson_95"][1] < 100
    assert bench.mcnemar_exact(0, 0) == 1.0
    assert bench.mcnemar_exact(0, 5) == bench.mcnemar_exact(5, 0) == pytest.approx(2 / 32)


def test_reference_warnings_are_sorted_by_check(bench):
    log = (
        "initial accuracy: 90.00%\n"
        "robust accuracy after APGD-CE: 80.00% (total time 1.0 s)\n"
        "Warning: there are 3 points with zero gradient! This might lead to ...\n"
        "Warning: there are 3 points with zero gradient! This might lead to ...\n"
        "robust accuracy after SQUARE: 70.00% (total time 9.0 s)\n"
        "Warning: Square Attack has decreased the robust accuracy of 10.00%. ...\n"
        "robust accuracy: 70.00%\n"
    )
    warned = bench.reference_warnings(log, [])
    assert warned["checks_fired"] == {"check_zero_gradients": 2, "check_square_sr": 1}
    assert len(warned["lines"]) == 2
    assert bench.logged_accuracies(log) == {
        "apgd-ce": 80.0,
        "square": 70.0,
        "final": 70.0,
        "clean": 90.0,
    }
