"""Checking an exercise inside a notebook cell, where the functions were just written:

    from cdlite.course import check
    check("silu", silu_forward, silu_backward)          # the same report as `cdlite exercise check`
    check("silu", silu_forward, silu_backward, hint=2)  # and the first two hints of the derivation

The functions are matched to the exercise's by name (or, when renamed, by position). They run in
the notebook's own process: there is no time limit, so an endless loop is stopped with the
kernel's interrupt button (`cdlite exercise check FILE` runs a file in a child process with one).
"""
from __future__ import annotations

from types import SimpleNamespace

from ..errors import CdliteError
from .exercise import Exercise
from .registry import get_exercise
from .runner import Report, format_report, grade_functions


def _namespace(exercise: Exercise, functions, named) -> SimpleNamespace:
    """The student's functions under the exercise's names: by __name__, else by position."""
    if len(functions) + len(named) > len(exercise.functions):
        raise CdliteError(f"check({exercise.name!r}, ...) takes {len(exercise.functions)} "
                          f"function(s), {', '.join(exercise.functions)}; got "
                          f"{len(functions) + len(named)}")
    found = dict(named)
    unknown = [k for k in named if k not in exercise.functions]
    if unknown:
        raise CdliteError(f"{exercise.name} has no function {unknown[0]!r}; its functions are "
                          f"{', '.join(exercise.functions)}")
    rest = [f for f in functions if getattr(f, "__name__", None) not in exercise.functions
            or f.__name__ in found]
    for f in functions:
        name = getattr(f, "__name__", None)
        if name in exercise.functions and name not in found:
            found[name] = f
    for name in exercise.functions:
        if name not in found and rest:
            found[name] = rest.pop(0)
    return SimpleNamespace(**found)


def hints_text(exercise: Exercise, upto: int) -> str:
    """Hints 1..upto of the exercise's derivation, and how to see the next one."""
    n = len(exercise.hints)
    if n == 0:
        return f"{exercise.name} has no hints."
    upto = max(1, min(int(upto), n))
    lines = [f"hint {k} of {n}: {h}" for k, h in enumerate(exercise.hints[:upto], 1)]
    if upto < n:
        lines.append(f"(the next one: hint={upto + 1}, or `cdlite exercise hint {exercise.name} "
                     f"{upto + 1}`)")
    return "\n".join(lines)


def check(name: str, *functions, hint: int = 0, seed: int | None = None, **named) -> Report:
    """Grade the exercise `name` on the given functions and print the report, as `cdlite exercise
    check` does; hint=k also prints the first k hints. Returns the Report (report.passed)."""
    exercise = get_exercise(name)
    report = grade_functions(exercise, _namespace(exercise, functions, named),
                             "the functions of this notebook", seed)
    text = format_report(report)
    if hint:
        text += "\n" + hints_text(exercise, hint)
    print(text)
    return _Quiet(report)


class _Quiet(Report):
    """The report, shown once: a notebook cell that ends with check(...) does not print it twice."""

    def __init__(self, report: Report):
        self.__dict__.update(report.__dict__)

    def __repr__(self) -> str:
        return f"<{self.exercise.name}: {self.n_passed} of {len(self.exercise.checks)} checks pass>"
