"""What an exercise is: the functions a student writes, the file `cdlite exercise start` writes for
them, and the checks `cdlite exercise check` runs on it.

The file is generated from the strings below (no data files): a docstring with the math, the
imports, any helper that is given, and one stub per function whose body is

    # YOUR CODE HERE
    raise NotImplementedError("write NAME")

Its first line, `cdlite exercise: NAME`, lets the checker find the exercise of a renamed file.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

# The lessons in examples/lessons/, in the order the ideas build; each exercise names one.
LESSONS = {
    1: ("01_forward_and_denoiser.py", "the forward process and the denoiser"),
    2: ("02_backprop_by_hand.py", "backprop by hand and the gradient check"),
    3: ("03_teacher_memorizes.py", "training a teacher, watching it memorize"),
    4: ("04_empirical_optimum.py", "the empirical optimum, the perfect memorizer"),
    5: ("05_samplers_and_nfe.py", "samplers and NFE"),
    6: ("06_consistency_distillation.py", "one CD step, then a student"),
    7: ("07_measuring_memorization.py", "measuring memorization honestly"),
    8: ("08_random_features.py", "the random-feature picture of tau_gen and tau_mem"),
}

STUB = 'raise NotImplementedError("write {}")'  # the line a student replaces, per function


@dataclass(frozen=True)
class Check:
    """One graded question: run(student) returns when right, raises grading.Fail when wrong."""
    title: str
    run: Callable


@dataclass(frozen=True)
class Exercise:
    name: str                # file name and CLI name, e.g. "silu"
    lesson: int              # key of LESSONS
    title: str               # one line for `cdlite exercise list`
    functions: tuple         # the functions the student writes, in file order
    math: str                # the docstring body: the equations, the symbols, the shapes
    code: str                # imports, given helpers, the stubs
    reference: str           # where cdlite implements the same thing
    checks: tuple            # Check, in the order they run
    hints: tuple = ()        # the derivation's steps, unlocked one by one (`exercise hint NAME`)

    def template(self, path: str) -> str:
        """The exercise file; `path` is where it is written (shown in the check command)."""
        lesson_file, lesson_title = LESSONS[self.lesson]
        return (f'"""cdlite exercise: {self.name} (lesson {self.lesson}: {lesson_title})\n\n'
                f"{self.title}.\n\n{self.math.strip()}\n\n"
                f"Fill in the bodies marked YOUR CODE HERE (keep the names and signatures), "
                f"then run\n\n    cdlite exercise check {path}\n\n"
                f"The checker imports this file in a separate Python process, calls your "
                f"functions on shapes and\nvalues you have not seen, and compares them with "
                f"exact answers and with cdlite's own\nimplementation: {self.reference}. "
                f"Each check prints pass or fail with a one-line hint.\n"
                f"Lesson: {lesson_file} (`cdlite lesson copy DIR` copies the lessons into DIR)\n"
                f'"""\n{self.code.strip()}\n')
