"""The self-checking exercises, through their public interface only: every solution passes its
own check (so none rots), every wrong answer an exercise lists fails with the message that
names its mistake, wrong types never crash a check, and hint() and solution() print something.
Synthetic inputs only, apart from the numbers read from real MNIST labels."""

from __future__ import annotations

import ast
import inspect
import textwrap

import pytest
import torch
import torch.nn.functional as F

import fgsm_helpers as fh
from fgsm_helpers import exercises
from fgsm_helpers.exercises import (
    chapter01,
    chapter02,
    chapter03,
    chapter04,
    chapter05,
    chapter06,
    framework,
)

ALL = [exercise for chapter in exercises.CHAPTERS.values() for exercise in chapter.exercises]
IDS = [exercise.name for exercise in ALL]


def _needs_mnist(exercise) -> bool:
    """Chapter 04's q3 is answered from the real test labels: its cases read MNIST (slow)."""
    return exercise is chapter04.q3


def _params(cases, ids):
    """``cases`` (tuples starting with an exercise) as parameters, the MNIST ones marked slow."""
    return [
        pytest.param(*case, id=name, marks=[pytest.mark.slow] if _needs_mnist(case[0]) else [])
        for case, name in zip(cases, ids, strict=True)
    ]


def _labels(exercise, request):
    """The real test labels for the exercise that needs them (read only then), else None."""
    return request.getfixturevalue("y_test") if _needs_mnist(exercise) else None


def _answer(exercise, code, y_test):
    """What a student who wrote ``code`` passes to check(): a function question takes the
    function itself; a value question what ``code`` computes from the question's inputs
    (chapter 04's q3 from the real test labels), or ``code`` itself when it is a value."""
    if exercise.signature is not None or not callable(code):
        return code
    if exercise is chapter04.q3:
        return code(y_test)
    if exercise.has_inputs:
        inputs = exercise.inputs()  # a tuple of objects, or one object (a dict, a list)
        return code(*inputs) if isinstance(inputs, tuple) else code(inputs)
    return code()


def _check(exercise, answer, capsys):
    ok = exercise.check(answer)
    return ok, capsys.readouterr().out


@pytest.fixture(scope="module")
def y_test(data_dir):
    return fh.load_mnist("test", data_dir)[1]


def test_every_chapter_has_two_or_three_exercises():
    assert sorted(exercises.CHAPTERS) == ["01", "02", "03", "04", "05", "06"]
    for chapter in exercises.CHAPTERS.values():
        assert 2 <= len(chapter.exercises) <= 3
        assert chapter.q1 is chapter.exercises[0]


def test_chapter_modules_are_what_notebooks_import():
    """`from fgsm_helpers.exercises import chapter02 as ex` gives ex.q1 ... and ex.exercises."""
    modules = (chapter01, chapter02, chapter03, chapter04, chapter05, chapter06)
    for number, module in zip(sorted(exercises.CHAPTERS), modules):
        assert module.chapter is exercises.CHAPTERS[number]
        assert module.exercises == module.chapter.exercises
        for index, exercise in enumerate(module.exercises, start=1):
            assert getattr(module, f"q{index}") is exercise
            assert exercise.name == f"chapter{number}.q{index}"


@pytest.mark.parametrize("exercise", _params([(e,) for e in ALL], IDS))
def test_solution_passes_its_check(exercise, request, capsys):
    answer = _answer(exercise, exercise.solution_function(), _labels(exercise, request))
    ok, out = _check(exercise, answer, capsys)
    assert ok is True, out
    assert out.startswith("Correct: ")


@pytest.mark.parametrize("exercise", ALL, ids=IDS)
def test_hint_and_solution_print(exercise, capsys):
    exercise.hint()
    hint = capsys.readouterr().out
    assert hint.startswith(f"Hint ({exercise.name}): ") and len(hint) > 40
    exercise.solution()
    solution = capsys.readouterr().out
    assert "def " in solution and "return" in solution
    assert exercise.name in repr(exercise)


NAMES = (ast.Name, ast.Attribute, ast.Constant, ast.Subscript, ast.Tuple, ast.FunctionDef)
"""Nodes that only name something (a function to use, y_test[:500]): a hint may name them."""


def _code_in(function) -> set[str]:
    """The calls, operations and statements of ``function``'s body long enough to give code
    away (12 characters or more), each with its spaces removed."""
    source = textwrap.dedent(inspect.getsource(function))
    fragments = set()
    for node in ast.walk(ast.parse(source).body[0]):
        if isinstance(node, (ast.expr, ast.stmt)) and not isinstance(node, NAMES):
            fragment = "".join(ast.get_source_segment(source, node).split())
            if len(fragment) >= 12:
                fragments.add(fragment)
    return fragments


@pytest.mark.parametrize("exercise", ALL, ids=IDS)
def test_hint_gives_no_solution_code(exercise, capsys):
    exercise.hint()
    hint = "".join(capsys.readouterr().out.split())
    given_away = [code for code in _code_in(exercise.solution_function()) if code in hint]
    assert not given_away, f"the hint of {exercise.name} holds its solution's code: {given_away}"


@pytest.mark.parametrize("exercise", ALL, ids=IDS)
def test_placeholder_says_not_answered(exercise, capsys):
    ok, out = _check(exercise, None, capsys)
    assert ok is False
    assert out.startswith("Not answered yet") and "Hint:" in out


@pytest.mark.parametrize("exercise", ALL, ids=IDS)
@pytest.mark.parametrize("answer", [object(), "text", [1, 2, 3], torch.zeros(3)])
def test_wrong_type_never_crashes(exercise, answer, capsys):
    if exercise is chapter06.q1 and isinstance(answer, str):
        pytest.skip("a string is the right type for this multiple-choice question")
    ok, out = _check(exercise, answer, capsys)
    assert ok is False
    assert out.startswith("Incorrect: ") and "expected" in out


#: every exercise whose answer is a function, one test case each
FUNCTION_EXERCISES = pytest.mark.parametrize(
    "exercise",
    [e for e in ALL if e.signature is not None],
    ids=lambda exercise: exercise.name,
)


@FUNCTION_EXERCISES
def test_function_that_raises_is_reported(exercise, capsys):
    def broken(*args):
        raise RuntimeError("boom")

    ok, out = _check(exercise, broken, capsys)
    assert ok is False
    assert "raised RuntimeError: boom" in out


def test_checks_leave_thread_count_alone(capsys):
    threads = torch.get_num_threads()
    chapter02.q1.check(chapter02.fgsm_solution)
    assert torch.get_num_threads() == threads


def test_checks_leave_the_random_stream_alone(capsys):
    """The FGSM check runs a model with dropout: its draws must not shift the student's seed."""
    torch.manual_seed(1)
    expected = torch.rand(3)
    torch.manual_seed(1)
    chapter02.q1.check(chapter02.fgsm_solution)
    chapter02.q1.check(chapter02.q1.wrong_answers["the gradient in train mode"].answer)
    assert torch.equal(torch.rand(3), expected)


# ------------------------------------------------------------------------- wrong answers

WRONG = [(e, name, wrong) for e in ALL for name, wrong in e.wrong_answers.items()]


def test_every_exercise_lists_its_common_wrong_answers():
    for exercise in ALL:
        assert len(exercise.wrong_answers) >= 2, exercise.name


@pytest.mark.parametrize(
    ("exercise", "wrong"),
    _params([(e, wrong) for e, _, wrong in WRONG], [f"{e.name}-{name}" for e, name, _ in WRONG]),
)
def test_wrong_answer_is_rejected_naming_its_mistake(exercise, wrong, request, capsys):
    ok, out = _check(exercise, _answer(exercise, wrong.answer, _labels(exercise, request)), capsys)
    assert ok is False
    assert out.startswith("Incorrect: ")
    assert wrong.says in out, out


def test_chapter05_toy_models_are_meaningful():
    """The toy setting must teach something: a model that learned, an attack that hurts, and
    a label-leaking difference that is not zero (else its sign could not be got wrong)."""
    source, target, x, y = chapter05.q2.inputs()
    assert fh.accuracy(source, x, y) >= 80 and fh.accuracy(target, x, y) >= 75
    assert fh.accuracy(target, fh.fgsm(source, x, y, 0.1), y) < fh.accuracy(target, x, y)
    assert chapter05.label_leak_solution(*chapter05.q1.inputs()) != 0


def test_chapter05_fgsm_rs_solution_is_the_package_attack():
    """q3's solution, with the random start drawn as fh.fgsm_random_start draws it, is the
    package's attack; the step leaves the eps ball without the projection (so that mistake can
    be seen), and dropout in train mode changes the step (so that one can too)."""
    model = framework.toy_model(seed=13)
    x, y = framework.toy_images(8, seed=13)
    eps, alpha = 0.3, 0.375
    noise = torch.rand(x.shape, generator=torch.Generator().manual_seed(5))
    ours = chapter05.fgsm_rs_solution(model, x, y, eps, alpha, (2 * noise - 1) * eps)
    generator = torch.Generator().manual_seed(5)
    package = fh.fgsm_random_start(model, x, y, eps, alpha, generator=generator)
    assert torch.allclose(ours, package, atol=1e-6)
    assert all(p.grad is None for p in model.parameters())
    xs, ys, cases = chapter05._rs_cases()
    eps, alpha, delta = cases[0]
    unprojected = chapter05._fgsm_rs_without_projection(
        framework.toy_model(seed=7), xs, ys, eps, alpha, delta
    )
    assert (unprojected - xs).abs().max() > eps + 0.05
    dropout = framework.toy_model(seed=7, dropout=0.5).train()
    torch.manual_seed(0)
    in_train = chapter05._fgsm_rs_in_train_mode(dropout, xs, ys, eps, alpha, delta)
    in_eval = chapter05._fgsm_rs_in_eval_mode(dropout, xs, ys, eps, alpha, delta)
    assert ((in_train - in_eval).abs() > 1e-5).float().mean() > 0.001


def test_chapter05_fgsm_rs_accepts_the_published_version(capsys):
    """Wong et al.'s code takes the gradient at the unclamped x + delta and steps from there:
    the other FGSM-RS the chapter compares, accepted and named."""

    def published(model, x, y, eps, alpha, delta):
        was_training = model.training
        model.eval()
        start = (x + delta).detach().requires_grad_(True)
        (gradient,) = torch.autograd.grad(F.cross_entropy(model(start), y), start)
        model.train(was_training)
        step = (delta + alpha * gradient.sign()).clamp(-eps, eps)
        return (x + step).clamp(0, 1)

    ok, out = _check(chapter05.q3, published, capsys)
    assert ok is True and "published version" in out, out
    ok, out = _check(chapter05.q3, chapter05.fgsm_rs_solution, capsys)
    assert ok is True and "package's version" in out, out


def test_inputs_are_fresh_copies():
    model, _, _ = chapter05.q1.inputs()
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.zero_()
    fresh, _, _ = chapter05.q1.inputs()
    assert any(p.abs().sum() > 0 for p in fresh.parameters())
    assert chapter05.q1.has_inputs and not chapter02.q1.has_inputs
    with pytest.raises(ValueError, match="needs no inputs"):
        chapter02.q1.inputs()


# ----------------------------------------------------------- the solutions match the package


def test_fgsm_solution_matches_package_with_model_grads_untouched():
    model = framework.toy_model(seed=11)
    x, y = framework.toy_images(8, seed=11)
    assert torch.equal(chapter02.fgsm_solution(model, x, y, 0.2), fh.fgsm(model, x, y, 0.2))
    assert all(p.grad is None for p in model.parameters())


def test_pgd_step_solution_is_one_step_of_package_pgd():
    model = framework.toy_model(seed=12)
    x, y = framework.toy_images(8, seed=12)
    for eps, alpha in ((0.3, 0.1), (0.1, 0.3)):
        ours = chapter04.pgd_step_solution(model, x, x, y, eps, alpha)
        package = fh.pgd(model, x, y, eps, alpha=alpha, steps=1, random_start=False)
        assert torch.allclose(ours, package, atol=1e-6)


def test_adversarial_step_solution_matches_package_training_step():
    """One step of the solution equals one batch of fh.train's FGSM recipe (plain SGD)."""
    model = framework.toy_model(seed=13)
    x, y = framework.toy_images(8, seed=13)
    ours, package = (framework.toy_model(seed=13) for _ in range(2))
    chapter03.adversarial_step_solution(ours, torch.optim.SGD(ours.parameters(), lr=0.5), x, y, 0.2)
    fh.run_epoch(
        package,
        x,
        y,
        optimizer=torch.optim.SGD(package.parameters(), lr=0.5),
        attack=fh.training.make_training_attack("fgsm", 0.2),
        adv_weight=0.5,
        batch_size=len(x),  # one batch: one optimizer step
        progress=False,
    )
    for p, q, r in zip(ours.parameters(), package.parameters(), model.parameters(), strict=True):
        assert torch.allclose(p, q, atol=1e-6)
        assert not torch.equal(p, r)


@pytest.mark.slow
def test_next_500_ceiling_is_real_mnist(y_test):
    """q3's numbers are MNIST's: its answer, the share of 1s it rejects, and every wrong slice's
    ceiling, none of which equals the answer."""
    assert fh.accuracy_ceiling(y_test[500:1000]) == pytest.approx(chapter04.NEXT_500_CEILING)
    assert chapter04.next_500_ceiling_solution(y_test) == pytest.approx(12.4)
    ones = 100.0 * (y_test[chapter04.NEXT_500] == 1).float().mean().item()
    assert ones == pytest.approx(chapter04.ONES_IN_NEXT_500)
    assert fh.accuracy_ceiling(y_test) == pytest.approx(chapter04.MNIST_TEST_CEILING)
    assert fh.accuracy_ceiling(y_test[:500]) == pytest.approx(chapter04.FIRST_500_CEILING)
    for images, (labels, ceiling) in chapter04.WRONG_SLICE_CEILINGS.items():
        assert fh.accuracy_ceiling(y_test[labels]) == pytest.approx(ceiling), images
        assert ceiling != pytest.approx(chapter04.NEXT_500_CEILING, abs=0.01), images


def test_fc1_count_matches_the_model():
    assert fh.count_parameters(fh.PaperCNN().fc1) == chapter01.fc1_parameters_solution()


# The notebooks' exercise cells as committed: a value's placeholder is None, a function's a body
# that raises NotImplementedError; untouched, the cell says "Not answered yet" for each question.
EXERCISE_CELLS = {
    "01": "01_mnist_cnn.ipynb",
    "02": "02_fgsm_attack.ipynb",
    "03": "03_adversarial_training.ipynb",
    "04": "04_results_comparison.ipynb",
    "05": "05_beyond_fgsm.ipynb",
    "06": "06_evaluating_robustness.ipynb",
}


def _exercise_cell(notebook: str) -> str:
    """The source of a chapter's exercise cell (the cell that imports its exercises)."""
    import json
    from pathlib import Path

    cells = json.loads((Path(__file__).parents[1] / "notebooks" / notebook).read_text())["cells"]
    (source,) = (
        "".join(c["source"])
        for c in cells
        if "".join(c["source"]).startswith("from fgsm_helpers.exercises import")
    )
    return source


def _run_exercise_cell(number: str, capsys) -> tuple[dict, str]:
    """Run chapter ``number``'s exercise cell exactly as committed: its namespace and output."""
    namespace: dict = {}
    exec(_exercise_cell(EXERCISE_CELLS[number]), namespace)
    return namespace, capsys.readouterr().out


@pytest.mark.parametrize("number", sorted(EXERCISE_CELLS))
def test_untouched_exercise_cell_says_not_answered_for_every_question(number, capsys):
    namespace, out = _run_exercise_cell(number, capsys)
    lines = out.splitlines()
    names = [exercise.name for exercise in exercises.CHAPTERS[number].exercises]
    assert len(lines) == len(names), out
    for line, name in zip(lines, names, strict=True):
        assert line.startswith(f"Not answered yet ({name}): replace the placeholder"), line
        assert "Hint: " in line and "Incorrect" not in line, line
    placeholders = [  # the functions the cell itself defines
        v
        for v in namespace.values()
        if inspect.isfunction(v) and v.__code__.co_filename == "<string>"
    ]
    assert len(placeholders) == sum(
        e.signature is not None for e in exercises.CHAPTERS[number].exercises
    )
    for function in placeholders:  # each function placeholder raises, as the check expects
        with pytest.raises(NotImplementedError, match=r"^q\d: replace with "):
            function(*[None] * function.__code__.co_argcount)


@FUNCTION_EXERCISES
def test_function_placeholder_says_not_answered(exercise, capsys):
    def placeholder(*args):
        raise NotImplementedError("q1: replace with your function")

    ok, out = _check(exercise, placeholder, capsys)
    assert ok is False
    assert out.startswith(f"Not answered yet ({exercise.name}): ") and "Hint: " in out, out
    assert "raise NotImplementedError" in out


def test_not_implemented_deeper_down_is_reported_as_raised(capsys):
    """Only the function's own `raise NotImplementedError` is the placeholder: one raised by
    something it calls is an error in an answer, named as such."""

    def unfinished_helper(x):
        raise NotImplementedError("not written yet")

    def normalize(x):
        return unfinished_helper(x)

    ok, out = _check(chapter01.q2, normalize, capsys)
    assert ok is False
    assert out.startswith("Incorrect: ") and "raised NotImplementedError: not written yet" in out


# What a student sees before answering: the exercise cells' placeholder runs (and, in chapter
# 01, a right answer to q2 before q3 is answered) never print an answer.
def test_chapter01_placeholders_and_q2_give_no_answer_away(capsys):
    _, out = _run_exercise_cell("01", capsys)
    chapter01.q2.check(chapter01.normalize_solution)  # q2 right, q3 still open
    out += capsys.readouterr().out
    for answer in ("4,718,720", "4718720", "-0.42", "2.82", "0.1307) / 0.3081"):
        assert answer not in out.replace("(x - 0.1307) / 0.3081, what", ""), answer
    chapter01.q1.hint()
    chapter01.q2.hint()
    chapter01.q3.hint()
    hints = capsys.readouterr().out
    for answer in ("4,718,720", "36,864", "0.1307", "0.3081", "-0.42", "2.82"):
        assert answer not in hints, answer


def test_chapter02_placeholders_give_no_answer_away(capsys):
    _, out = _run_exercise_cell("02", capsys)
    for answer in ("0.0924", "0.092", "0.8845", "0.88", "abs(", "clamp"):
        assert answer not in out, answer


def _notebook_function(notebook: str, name: str):
    """The function ``name`` as a chapter's cell defines it (its ``def`` block, executed)."""
    import json
    from pathlib import Path

    cells = json.loads((Path(__file__).parents[1] / "notebooks" / notebook).read_text())["cells"]
    source = next("".join(c["source"]) for c in cells if f"def {name}(" in "".join(c["source"]))
    lines = source.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"def {name}("))
    end = next(
        (i for i in range(start + 1, len(lines)) if lines[i] and not lines[i][0].isspace()),
        len(lines),
    )
    namespace = {"torch": torch, "nn": torch.nn, "F": torch.nn.functional}
    exec("\n".join(lines[start:end]), namespace)
    return namespace[name]


def test_chapter02_own_fgsm_attack_fails_q1_on_a_model_in_train_mode(capsys):
    """Copying section 3's five lines is not enough: they leave the model's mode alone, and the
    check attacks a model with dropout in train mode."""
    fgsm_attack = _notebook_function("02_fgsm_attack.ipynb", "fgsm_attack")
    model = framework.toy_model(seed=2)
    x, y = framework.toy_images(8, seed=2)
    assert torch.equal(fgsm_attack(model, x, y, 0.1), fh.fgsm(model, x, y, 0.1))
    ok, out = _check(chapter02.q1, fgsm_attack, capsys)
    assert ok is False and "in train mode dropout" in out


def test_chapter06_inputs_tell_the_wrong_answers_from_the_right_one():
    """q2's report holds every label, so no listed mistake lands on the right answer by chance,
    and q1's lowest figure is the one its check expects."""
    broken_by = chapter06.q2.inputs()
    assert set(broken_by) == set(chapter06.REPORT_COUNTS)
    right = chapter06.report_accuracy_solution(broken_by)
    assert right == pytest.approx(60.0)
    for wrong in chapter06.q2.wrong_answers.values():
        assert wrong.answer(broken_by) != pytest.approx(right, abs=0.01)
    assert chapter06.reported_attack_solution(chapter06.q1.inputs()) == "square"
