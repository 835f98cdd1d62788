"""cdlite.course: exercises where a student writes the key lines of cdlite, and their checker.

    cdlite exercise list                   the exercises, with the lesson each goes with
    cdlite exercise start NAME DIR         write DIR/NAME.py: signature, docstring, math, a stub
    cdlite exercise check DIR/NAME.py      grade it: each check pass or fail, with a hint
    cdlite exercise hint NAME [K]          the derivation's steps, one at a time
    check("silu", silu_forward, silu_backward)   the same report, in a notebook cell

Reading order: exercise (what an exercise is, the lessons), grading (calling the student's code,
comparing, central differences), ex_backprop, ex_edm, ex_cd (the exercises and their checks),
registry (the list), runner and worker (grading in a child process with a time limit).
The lessons themselves are in examples/lessons/; `lesson` has the little they share.
"""
from .exercise import LESSONS, STUB, Check, Exercise
from .grading import Fail
from .registry import EXERCISES, exercise_of_file, get_exercise, start_exercise
from .runner import DEFAULT_TIMEOUT, Report, Result, check_file, format_report, grade_file
from .cell import check, hints_text  # noqa: E402  (after the runner it uses)

__all__ = [
    "DEFAULT_TIMEOUT", "EXERCISES", "LESSONS", "STUB", "Check", "Exercise", "Fail", "Report",
    "Result", "check_file", "exercise_of_file", "format_report", "get_exercise", "grade_file",
    "start_exercise", "check", "hints_text",
]
