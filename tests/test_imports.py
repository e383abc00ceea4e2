"""The package's imports show its design (scripts/import_graph.py measures them)."""

import importlib.util
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "import_graph.py"
spec = importlib.util.spec_from_file_location("import_graph", SCRIPT)
import_graph = importlib.util.module_from_spec(spec)
spec.loader.exec_module(import_graph)


def test_import_depth_is_at_most_eight():
    found = import_graph.graph()
    edges = {
        m: {e["target"] for e in entries} for m, entries in found.items() if m != "fgsm_helpers"
    }
    chain = import_graph.longest_chain(edges)
    assert len(chain) <= import_graph.MAX_DEPTH, " -> ".join(chain)


def test_no_module_imports_another_modules_private_names():
    assert import_graph.problems(import_graph.graph())["private"] == []


def test_imports_inside_functions_say_why():
    assert import_graph.problems(import_graph.graph())["hidden"] == []


def test_the_measure_sees_a_chain_and_a_private_import(tmp_path):
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}
    assert import_graph.longest_chain(edges) == ["a", "b", "c"]
    found = {
        "m": [{"target": "n", "names": ["_x", "y"], "line": 3, "in_function": True, "comment": ""}]
    }
    problems = import_graph.problems(found)
    assert problems["private"] == ["m:3 -> n imports _x"] and len(problems["hidden"]) == 1


def test_only_the_command_line_knows_every_subcommand():
    package = Path(import_graph.PACKAGE)
    mentions = [
        p.relative_to(package).as_posix()
        for p in package.rglob("*.py")
        if all(
            f'"{name}"' in p.read_text() for name in ("seeds", "collapse", "ablation", "regress")
        )
    ]
    assert mentions == ["cli.py"]
