"""The self-checking exercises: every solution passes its own check (so none rots), typical
wrong answers fail with the hint meant for them, wrong types never crash a check, and hint()
and solution() print something. Synthetic inputs only, apart from the one number read from
real MNIST labels."""

from __future__ import annotations

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


def _solution_answer(exercise, y_test):
    """What a student who wrote the solution would pass to check()."""
    solution = exercise.solution_function()
    if exercise is chapter04.q3:
        return solution(y_test)
    if exercise._inputs is not None:
        inputs = exercise.inputs()  # a tuple of objects, or one object (a dict, a list)
        return solution(*inputs) if isinstance(inputs, tuple) else solution(inputs)
    parameters = solution.__code__.co_argcount
    return solution() if parameters == 0 else solution


def _check(exercise, answer, capsys):
    ok = exercise.check(answer)
    return ok, capsys.readouterr().out


NUMBER_CHECKS = {
    "_check_fc1",
    "_check_normalized_range",
    "_check_pixel_eps",
    "_check_linear_gain",
    "_check_first_500",
    "_check_label_leak",
    "_check_transfer",
    "_check_early_stopping",
    "_check_reported_attack",
    "_check_report_accuracy",
}
"""Checks whose answer is a value, not a function."""


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


@pytest.mark.parametrize("exercise", ALL, ids=IDS)
def test_solution_passes_its_check(exercise, y_test, capsys):
    ok, out = _check(exercise, _solution_answer(exercise, y_test), capsys)
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


@pytest.mark.parametrize("exercise", ALL, ids=IDS)
def test_placeholder_says_not_answered(exercise, capsys):
    ok, out = _check(exercise, None, capsys)
    assert ok is False
    assert out.startswith("Not answered yet") and "Hint:" in out


@pytest.mark.parametrize("exercise", ALL, ids=IDS)
@pytest.mark.parametrize("answer", [object(), "text", [1, 2, 3], torch.zeros(3)])
def test_wrong_type_never_crashes(exercise, answer, capsys):
    if exercise in (chapter05.q3, chapter06.q1) and isinstance(answer, str):
        pytest.skip("a string is the right type for this multiple-choice question")
    ok, out = _check(exercise, answer, capsys)
    assert ok is False
    assert out.startswith("Incorrect: ") and "expected" in out


@pytest.mark.parametrize(
    "exercise",
    [e for e in ALL if e._checker.__name__ not in NUMBER_CHECKS],
    ids=lambda exercise: exercise.name,
)
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


# ------------------------------------------------------------------ typical wrong answers


def _grad_sign(model, x, y):
    x = x.clone().requires_grad_(True)
    (gradient,) = torch.autograd.grad(F.cross_entropy(model(x), y), x)
    return gradient.sign(), gradient


def fgsm_without_clamping(model, x, y, eps):
    return x + eps * _grad_sign(model, x, y)[0]


def fgsm_sign_flipped(model, x, y, eps):
    return (x - eps * _grad_sign(model, x, y)[0]).clamp(0, 1)


def fgsm_normalized_units(model, x, y, eps):
    return (x + eps * fh.MNIST_STD * _grad_sign(model, x, y)[0]).clamp(0, 1)


def fgsm_raw_gradient(model, x, y, eps):
    return (x + eps * 1000 * _grad_sign(model, x, y)[1]).clamp(0, 1)


def fgsm_returns_perturbation(model, x, y, eps):
    return eps * _grad_sign(model, x, y)[0]


def loss_adversarial_only(model, x, y, eps):
    return F.cross_entropy(model(fh.fgsm(model, x, y, eps)), y)


def loss_summed(model, x, y, eps):
    return F.cross_entropy(model(x), y) + F.cross_entropy(model(fh.fgsm(model, x, y, eps)), y)


def loss_as_float(model, x, y, eps):
    return chapter03.adversarial_loss_solution(model, x, y, eps).item()


def loss_without_graph(model, x, y, eps):
    x_adv = fh.fgsm(model, x, y, eps)
    with torch.no_grad():
        return 0.5 * F.cross_entropy(model(x), y) + 0.5 * F.cross_entropy(model(x_adv), y)


def step_without_zero_grad(model, optimizer, x, y, eps):
    loss = chapter03.adversarial_loss_solution(model, x, y, eps)
    loss.backward()
    optimizer.step()
    return loss.item()


def step_without_step(model, optimizer, x, y, eps):
    return chapter03.adversarial_loss_solution(model, x, y, eps).item()


def step_clean_only(model, optimizer, x, y, eps):
    loss = F.cross_entropy(model(x), y)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.item()


def pgd_step_without_projection(model, x, x_adv, y, eps, alpha):
    return (x_adv + alpha * _grad_sign(model, x_adv, y)[0]).clamp(0, 1)


def pgd_step_without_clamping(model, x, x_adv, y, eps, alpha):
    x_next = x_adv + alpha * _grad_sign(model, x_adv, y)[0]
    return x + (x_next - x).clamp(-eps, eps)


def pgd_step_gradient_at_x(model, x, x_adv, y, eps, alpha):
    x_next = x_adv + alpha * _grad_sign(model, x, y)[0]
    return (x + (x_next - x).clamp(-eps, eps)).clamp(0, 1)


def ceiling_as_fraction(y):
    return torch.bincount(y, minlength=10).max().item() / len(y)


def ceiling_of_ones(y):
    return 100.0 * (y == 1).float().mean().item()


def normalize_in_place(x):
    return x.sub_(0.1307).div_(0.3081)


def _toy_numbers():
    model, x, y = chapter05.q1.inputs()
    with_true = fh.accuracy(model, fh.fgsm(model, x, y, 0.1), y)
    with_predicted = fh.accuracy(model, fh.fgsm(model, x, None, 0.1), y)
    source, target, x, y = chapter05.q2.inputs()
    white_box = fh.accuracy(target, fh.fgsm(target, x, y, 0.1), y)
    return with_predicted - with_true, white_box


WRONG = [
    (chapter01.q1, 4_718_592, "weights only"),
    (chapter01.q1, 4_738_826, "whole model"),
    (chapter01.q1, 64 * 26 * 26 * 128 + 128, "28 -> 26 -> 24"),
    (chapter01.q2, lambda x: (x - 0.5) / 0.5, "[-1, 1]"),
    (chapter01.q2, lambda x: x * 0.3081 + 0.1307, "undoes"),
    (chapter01.q2, lambda x: (x - 0.3081) / 0.1307, "swapped"),
    (chapter01.q2, normalize_in_place, "in place"),
    (chapter01.q3, (0.0, 1.0), "not 0"),
    (chapter01.q3, (2.8215, -0.4242), "wrong way round"),
    (chapter02.q1, fgsm_without_clamping, "clamp"),
    (chapter02.q1, fgsm_sign_flipped, "against"),
    (chapter02.q1, fgsm_normalized_units, "pixel units"),
    (chapter02.q1, fgsm_raw_gradient, "sign"),
    (chapter02.q1, fgsm_returns_perturbation, "perturbation"),
    (chapter02.q1, lambda model, x, y, eps: x, "differ from fh.fgsm"),
    (chapter02.q2, 0.3 / 0.3081, "divided"),
    (chapter02.q2, 0.3, "convert it"),
    (chapter02.q3, 0.25 * 2.0, "delta . g"),
    (chapter03.q1, loss_adversarial_only, "only the FGSM loss"),
    (chapter03.q1, loss_summed, "added the two losses"),
    (chapter03.q1, loss_as_float, "one-number loss tensor"),
    (chapter03.q1, loss_without_graph, "no gradient"),
    (chapter03.q2, step_without_zero_grad, "zero_grad"),
    (chapter03.q2, step_without_step, "did not change"),
    (chapter03.q2, step_clean_only, "clean loss only"),
    (chapter04.q1, pgd_step_without_projection, "original"),
    (chapter04.q1, pgd_step_without_clamping, "clamp to [0, 1]"),
    (chapter04.q1, pgd_step_gradient_at_x, "gradient at x"),
    (chapter04.q2, ceiling_as_fraction, "percentage"),
    (chapter04.q2, ceiling_of_ones, "most common"),
    (chapter04.q2, lambda y: 10.0, "the ceiling is"),
    (chapter04.q3, 11.35, "10,000"),
    (chapter05.q3, "fgsm", "held-out"),
    (chapter05.q3, "clean", "clean accuracy"),
]


@pytest.mark.parametrize(
    ("exercise", "answer", "expected"),
    WRONG,
    ids=[f"{e.name}-{getattr(a, '__name__', a)}" for e, a, _ in WRONG],
)
def test_typical_wrong_answer_gets_its_hint(exercise, answer, expected, capsys):
    ok, out = _check(exercise, answer, capsys)
    assert ok is False
    assert out.startswith("Incorrect: ")
    assert expected in out, out


def test_l2_gain_gets_its_hint(capsys):
    x = torch.tensor([[0.2, 0.9, 0.5, 0.0]])
    W = torch.tensor([[1.0, -2.0, 0.5, 0.0], [0.0, 1.0, -1.0, 2.0], [-1.0, 0.5, 1.0, -0.5]])
    b = torch.tensor([0.1, 0.0, -0.1])
    gradient = (torch.softmax(x @ W.T + b, dim=1) - F.one_hot(torch.tensor([1]), 3).float()) @ W
    ok, out = _check(chapter02.q3, 0.25 * gradient.norm().item(), capsys)
    assert ok is False and "L2" in out


def test_chapter05_wrong_numbers_get_their_hints(capsys):
    difference, white_box = _toy_numbers()
    assert difference != 0, "the toy setting should give a nonzero difference to get wrong"
    ok, out = _check(chapter05.q1, -difference, capsys)
    assert ok is False and "sign" in out
    ok, out = _check(chapter05.q2, white_box, capsys)
    assert ok is False and "attacked the target itself" in out


def test_chapter05_toy_models_are_meaningful():
    """The toy setting must teach something: a model that learned, an attack that hurts."""
    source, target, x, y = chapter05.q2.inputs()
    assert fh.accuracy(source, x, y) >= 80 and fh.accuracy(target, x, y) >= 75
    assert fh.accuracy(target, fh.fgsm(source, x, y, 0.1), y) < fh.accuracy(target, x, y)


def test_inputs_are_fresh_copies():
    model, _, _ = chapter05.q1.inputs()
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.zero_()
    fresh, _, _ = chapter05.q1.inputs()
    assert any(p.abs().sum() > 0 for p in fresh.parameters())
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
    from fgsm_helpers.training import _training_step

    model = framework.toy_model(seed=13)
    x, y = framework.toy_images(8, seed=13)
    ours, package = (framework.toy_model(seed=13) for _ in range(2))
    chapter03.adversarial_step_solution(ours, torch.optim.SGD(ours.parameters(), lr=0.5), x, y, 0.2)
    attack = fh.training.make_training_attack("fgsm", 0.2)
    _training_step(package, x, y, attack, 0.5, torch.optim.SGD(package.parameters(), lr=0.5))
    for p, q, r in zip(ours.parameters(), package.parameters(), model.parameters(), strict=True):
        assert torch.allclose(p, q, atol=1e-6)
        assert not torch.equal(p, r)


def test_first_500_ceiling_is_real_mnist(y_test):
    assert fh.accuracy_ceiling(y_test[:500]) == pytest.approx(chapter04.FIRST_500_CEILING)
    assert fh.accuracy_ceiling(y_test) == pytest.approx(11.35)


def test_fc1_count_matches_the_model():
    assert fh.count_parameters(fh.PaperCNN().fc1) == chapter01.fc1_parameters_solution()


# The placeholder answers of the notebooks' exercise cells: each must print a hint, not raise.
PLACEHOLDERS = [
    (chapter01.q2, lambda x: x),
    (chapter02.q1, lambda model, x, y, eps: x.clone()),
    (chapter03.q1, lambda model, x, y, eps: None),
    (chapter03.q2, lambda model, optimizer, x, y, eps: 0.0),
    (chapter04.q1, lambda model, x, x_adv, y, eps, alpha: x_adv.clone()),
    (chapter04.q2, lambda y: 0.0),
]


@pytest.mark.parametrize(("exercise", "stub"), PLACEHOLDERS, ids=[e.name for e, _ in PLACEHOLDERS])
def test_notebook_placeholder_stub_gets_a_hint(exercise, stub, capsys):
    ok, out = _check(exercise, stub, capsys)
    assert ok is False
    assert out.startswith("Incorrect: ") and "raised" not in out


def test_chapter06_wrong_answers_get_their_hints(capsys):
    ok, out = _check(chapter06.q1, "pgd", capsys)
    assert not ok and "Square" in out
    ok, out = _check(chapter06.q1, "FGSM", capsys)
    assert not ok and "lowest" in out
    broken_by = chapter06.q2.inputs()
    clean = 100 * (len(broken_by) - broken_by.count("clean")) / len(broken_by)
    ok, out = _check(chapter06.q2, clean, capsys)
    assert not ok and "clean accuracy" in out
    ok, out = _check(chapter06.q2, broken_by.count(None) / len(broken_by), capsys)
    assert not ok and "percent" in out
