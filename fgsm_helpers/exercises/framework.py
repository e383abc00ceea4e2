"""The machinery of the self-checking exercises: ``Exercise``, ``WrongAnswer`` and ``Chapter``,
the building blocks of the checks, and the hidden inputs they run answers on.

A check never raises on a wrong answer: the building blocks below turn a wrong type, a function
that raises or a tensor of the wrong shape into a ``Result`` that says what was expected. The
hidden inputs are small seeded models and synthetic 28x28 images (no download, well under a
second per check).
"""

from __future__ import annotations

import contextlib
import copy
import inspect
import math
import numbers
import textwrap
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from ..attacks import fgsm
from ..models import Normalize

# ----------------------------------------------------------------------------- the machinery


@contextlib.contextmanager
def _one_thread() -> Iterator[None]:
    """Checks run on tiny tensors: one thread is faster there, much faster on a busy machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


class Result:
    """What a check found: ``ok`` and the sentence the student reads."""

    def __init__(self, ok: bool, message: str) -> None:
        self.ok, self.message = ok, message


def correct(message: str) -> Result:
    """A passing result; ``message`` says what the right answer shows."""
    return Result(True, message)


def incorrect(message: str) -> Result:
    """A failing result; ``message`` names the mistake or says what was expected."""
    return Result(False, message)


class WrongAnswer(NamedTuple):
    """A common wrong answer to a question, and words of the message that names its mistake.

    ``answer`` is what the student would pass to ``check``: a value, or for a question whose
    answer is a function, the wrong function. Where the answer is a value computed from data
    (the question's ``inputs()``, or data it names, such as ``y_test``), ``answer`` may be the
    wrong computation instead: a function of that data, like the solution.
    """

    answer: Any
    says: str


class Exercise:
    """One question: ``check(answer)``, ``hint()``, ``solution()``.

    ``checker(answer) -> Result`` judges an answer; ``solution`` is a function of a chapter
    module whose source is the solution shown to the student; ``explanation`` follows it.
    ``signature`` is set where the answer is a function the student writes
    (``"fgsm(model, x, y, eps) -> x_adv"``): anything not callable is turned away before
    ``checker`` sees it. ``inputs`` (optional) builds the objects the question asks the student
    to work on. ``wrong_answers`` names the common mistakes ``checker`` must reject, each with
    the words its message names the mistake by; the tests feed every one to ``check``.
    """

    def __init__(
        self,
        name: str,
        question: str,
        checker: Callable[[Any], Result],
        hint: str,
        solution: Callable,
        explanation: str,
        *,
        signature: str | None = None,
        inputs: Callable[[], Any] | None = None,
        wrong_answers: dict[str, WrongAnswer] | None = None,
    ) -> None:
        self.name = name
        self.question = textwrap.dedent(question).strip()
        self.signature = signature
        self.wrong_answers = dict(wrong_answers or {})
        self._checker = checker
        self._hint = " ".join(hint.split())
        self._solution = solution
        self._explanation = textwrap.dedent(explanation).strip()
        self._inputs = inputs

    def check(self, answer: Any = None) -> bool:
        """Print whether ``answer`` is right (or what is wrong with it); return True or False.

        The notebooks' placeholders are ``None`` for a value and, for a function, a body that
        raises ``NotImplementedError``: both get "Not answered yet" and the hint, never a
        check's message (which would name what the answer must do)."""
        if answer is None:
            return self._not_answered("None", "your answer")
        if self.signature is not None and not callable(answer):
            result = incorrect(
                f"expected a function `{self.signature}`; got {type_name(answer)}. "
                "Pass the function itself, without calling it."
            )
        else:
            try:
                with _one_thread():
                    result = self._checker(answer)
            except NotAnswered:
                return self._not_answered("raise NotImplementedError", "your function's body")
        print(("Correct: " if result.ok else "Incorrect: ") + result.message)
        return result.ok

    def _not_answered(self, placeholder: str, replacement: str) -> bool:
        print(
            f"Not answered yet ({self.name}): replace the placeholder ({placeholder}) with "
            f"{replacement}. Hint: {self._hint}"
        )
        return False

    def hint(self) -> None:
        """Print a hint."""
        print(f"Hint ({self.name}): {self._hint}")

    def solution(self) -> None:
        """Print the solution's code and why it is right."""
        source = textwrap.dedent(inspect.getsource(self._solution))
        print(
            f"Solution ({self.name}), with torch, torch.nn.functional as F and fgsm_helpers as "
            f"fh imported:\n\n{source}\n{self._explanation}"
        )

    def solution_function(self) -> Callable:
        """The solution itself (the tests check it against ``check``)."""
        return self._solution

    @property
    def has_inputs(self) -> bool:
        """Whether the question gives objects to work on (``inputs()``)."""
        return self._inputs is not None

    def inputs(self) -> Any:
        """Fresh copies of the objects this question asks you to work on."""
        if self._inputs is None:
            raise ValueError(f"{self.name} needs no inputs: read its question")
        with _one_thread():
            return copy.deepcopy(self._inputs())

    def __repr__(self) -> str:
        return f"{self.name}: {self.question}"


class Chapter:
    """The exercises of one chapter, as attributes ``q1``, ``q2``, ..."""

    def __init__(self, title: str, *exercises: Exercise) -> None:
        self.title = title
        self.exercises = exercises
        for number, exercise in enumerate(exercises, start=1):
            setattr(self, f"q{number}", exercise)

    def __repr__(self) -> str:
        return "\n\n".join([f"Exercises, {self.title}", *(repr(e) for e in self.exercises)])


# ------------------------------------------------------------------------ answer validation


def as_number(answer: Any) -> float | None:
    """``answer`` as a float, or None when it is not one number (bools are not numbers here)."""
    if isinstance(answer, bool):
        return None
    if isinstance(answer, torch.Tensor) and answer.numel() == 1:
        return float(answer.item())
    if isinstance(answer, numbers.Real):
        value = float(answer)
        return value if math.isfinite(value) else None
    return None


def type_name(answer: Any) -> str:
    """What ``answer`` is, in a few words, for a message: its type and value, or a tensor's shape."""
    if isinstance(answer, torch.Tensor):
        return f"a tensor of shape {tuple(answer.shape)}"
    return f"{type(answer).__name__} {answer!r}"[:80]


def number_or_message(answer: Any, what: str) -> tuple[float | None, Result | None]:
    """``(value, None)`` when ``answer`` is one number, else ``(None, what was expected)``."""
    value = as_number(answer)
    if value is None:
        return None, incorrect(f"expected {what} (an int or a float); got {type_name(answer)}.")
    return value, None


def close(value: float, expected: float, tolerance: float) -> bool:
    """Whether ``value`` is within ``tolerance`` of ``expected``."""
    return abs(value - expected) <= tolerance


class NotAnswered(Exception):
    """The student's function is still the placeholder: its own body raised
    ``NotImplementedError``. ``Exercise.check`` says "Not answered yet" instead of a result."""


def _raised_by_its_own_body(function: Callable, error: BaseException) -> bool:
    """Whether ``error`` was raised by a ``raise`` in ``function``'s own body (the innermost
    frame of its traceback is ``function``'s code), not by something it called."""
    code = getattr(function, "__code__", None)
    traceback = error.__traceback__
    while traceback is not None and traceback.tb_next is not None:
        traceback = traceback.tb_next
    return code is not None and traceback is not None and traceback.tb_frame.f_code is code


def call(function: Callable, *args: Any) -> tuple[Any, Result | None]:
    """Run the student's function; an exception becomes a message, not a crash. A
    ``NotImplementedError`` raised by the function's own body (the notebooks' placeholder)
    raises ``NotAnswered``."""
    try:
        return function(*args), None
    except NotImplementedError as error:
        if _raised_by_its_own_body(function, error):
            raise NotAnswered from None
        return None, _raised(error)
    except Exception as error:  # the student's code may raise anything: report it
        return None, _raised(error)


def _raised(error: Exception) -> Result:
    return incorrect(
        f"your function raised {type(error).__name__}: {error}. "
        "Run it on a small batch yourself to see where."
    )


def tensor_like(value: Any, like: torch.Tensor, what: str) -> Result | None:
    """None if ``value`` is a float tensor shaped like ``like``, else what is wrong."""
    if not isinstance(value, torch.Tensor):
        return incorrect(f"{what} should return a torch.Tensor; it returned {type_name(value)}.")
    if value.shape != like.shape:
        return incorrect(
            f"{what} should return a tensor of shape {tuple(like.shape)} (the same as x); "
            f"got {tuple(value.shape)}."
        )
    if not torch.is_floating_point(value):
        return incorrect(f"{what} should return a float tensor; got dtype {value.dtype}.")
    return None


# ---------------------------------------------------------------------- hidden test inputs


def toy_images(n: int = 16, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` synthetic 28x28 images in [0, 1] that look enough like MNIST for the checks:
    mostly black, a few gray pixels, a white stroke (so clamping at 0 and at 1 both matter),
    and labels in 0..9."""
    generator = torch.Generator().manual_seed(seed)
    noise = torch.rand(n, 1, 28, 28, generator=generator)
    x = torch.where(noise > 0.7, noise, torch.zeros_like(noise))
    x[:, :, 8:20, 12:16] = 1.0
    y = torch.randint(0, 10, (n,), generator=generator)
    return x, y


def toy_model(seed: int = 0, dropout: float = 0.0) -> nn.Module:
    """A small seeded CNN (normalization first, like ``PaperCNN``), in eval mode; random weights
    are enough to compare two implementations of an attack. ``dropout > 0`` adds dropout before
    the last layer (the same weights), for the checks that put the model in train mode."""
    generator = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng(devices=[]):  # layers draw their initial weights: not from ours
        layers = [Normalize(), nn.Conv2d(1, 4, kernel_size=5, stride=2), nn.ReLU(), nn.Flatten()]
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        model = nn.Sequential(*layers, nn.Linear(4 * 12 * 12, 10))
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.copy_(0.1 * torch.randn(parameter.shape, generator=generator))
    return model.eval()


def toy_dataset(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A 10-class problem a linear model learns to about 90%: each class a faint fixed random
    pattern of strokes, each image its class's pattern plus strong noise, clamped to [0, 1]."""
    patterns = torch.rand(10, 1, 28, 28, generator=torch.Generator().manual_seed(99)) > 0.8
    generator = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 10, (n,), generator=generator)
    noise = 0.4 * torch.randn(n, 1, 28, 28, generator=generator)
    return (0.2 * patterns[y].float() + noise).clamp(0.0, 1.0), y


def train_toy(model: nn.Module, seed: int, adversarial_eps: float = 0.0) -> nn.Module:
    """Full-batch Adam on 300 toy images (a fraction of a second); with ``adversarial_eps``
    chapter 03's recipe: half clean, half FGSM loss (the paper states no weight)."""
    x, y = toy_dataset(300, seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.02)
    for _ in range(25):
        loss = F.cross_entropy(model(x), y)
        if adversarial_eps > 0:
            x_adv = fgsm(model, x, y, adversarial_eps)
            loss = 0.5 * loss + 0.5 * F.cross_entropy(model(x_adv), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model.eval()


def linear_model(seed: int) -> nn.Module:
    """An untrained linear classifier of 28x28 images (normalization first), seeded."""
    with torch.random.fork_rng(devices=[]):  # leave the student's random stream alone
        torch.manual_seed(seed)
        return nn.Sequential(Normalize(), nn.Flatten(), nn.Linear(28 * 28, 10))


# --------------------------------------------------------- the wrong answers' building block


def input_gradient(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Gradient of the mean cross-entropy loss with respect to the images ``x``, in whatever
    mode the model is in (the wrong answers are built on it)."""
    x = x.clone().detach().requires_grad_(True)
    (gradient,) = torch.autograd.grad(F.cross_entropy(model(x), y), x)
    return gradient
