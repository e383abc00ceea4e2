import json
from pathlib import Path

import pytest

import fgsm_helpers as fh


def test_records_merge_and_replace(tmp_path):
    path = tmp_path / "out" / "results.json"
    fh.results.add_records(
        path, fh.results.curve_records("baseline", "fgsm", {0.1: 80.0, 0.2: 40.0})
    )
    fh.results.add_records(path, [fh.results.make_record("baseline", "fgsm", 0.1, 81.0)])
    fh.results.add_records(
        path,
        [fh.results.make_record("baseline", "pgd", 0.1, 10.0, n_images=1000, steps=40, restarts=1)],
    )
    data = json.loads(path.read_text())
    assert len(data["records"]) == 3
    assert fh.results.find(data, model="baseline", attack="fgsm", eps=0.1)[0]["accuracy"] == 81.0
    pgd = fh.results.find(data, attack="pgd")[0]
    assert pgd["n_images"] == 1000 and pgd["steps"] == 40 and pgd["eps_units"] == "pixel"
    fh.results.set_section(path, "protocol", "card", {"clamping": "[0, 1]"})
    assert fh.results.load_results(path)["protocol"]["card"]["clamping"] == "[0, 1]"


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"accuracy": 101.0}, "accuracy"),
        ({"eps": -0.1}, "eps"),
        ({"eps_units": "percent"}, "eps_units"),
    ],
)
def test_bad_records(kwargs, match):
    args = {"model": "baseline", "attack": "fgsm", "eps": 0.1, "accuracy": 50.0, **kwargs}
    units = args.pop("eps_units", "pixel")
    with pytest.raises(ValueError, match=match):
        fh.results.make_record(**args, eps_units=units)


PAPER = Path(__file__).resolve().parents[2] / "shared" / "paper" / "fgsm_paper.md"


def _paper_rows() -> list[list[str]]:
    """The rows of the markdown tables in the paper's text, as cells."""
    rows = []
    for line in PAPER.read_text().splitlines():
        if line.startswith("|") and not set(line) <= set("|- "):
            rows.append([cell.strip() for cell in line.strip("|").split("|")])
    return rows


@pytest.mark.skipif(not PAPER.is_file(), reason=f"the paper's text is not at {PAPER}")
def test_paper_tables_are_the_papers():
    """fh.paper's numbers against the tables in the paper's own text (../shared/paper)."""
    rows = _paper_rows()
    table1 = next(row for row in rows if row[0] == "Accuracy")
    assert [float(v) for v in table1[1:]] == [
        fh.paper.TABLE1_CLEAN_ACCURACY,
        *fh.paper.TABLE1_FGSM_ACCURACY.values(),
    ]
    table2 = {float(row[0].split("=")[1]): row[1:] for row in rows if row[0].startswith("ep =")}
    assert tuple(table2) == fh.paper.TABLE2_EPS
    for eps, (baseline, adversarial) in table2.items():
        assert float(baseline) == fh.paper.TABLE2_BASELINE[eps]
        assert float(adversarial) == fh.paper.TABLE2_ADVERSARIAL[eps]
    assert fh.paper.mean_abs_difference(
        {0.1: 90.0, 0.2: 80.0}, {0.1: 91.68, 0.2: 82.2}
    ) == pytest.approx(1.94)
