"""Grading a student's file: in this process (`grade_file`) or, as `cdlite exercise check` does, in
a child Python process with a time limit per check (`check_file`).

The child process (cdlite.course.worker) imports the student's file, runs the checks one by one
and reports each on a private descriptor as one JSON line: a plan (the check titles), then "start"
and "result" per check, then "end". Each line carries a token the parent sent on the child's stdin
before the student's code was imported; a line without it, or one that does not fit the
protocol (the student's code writing to that descriptor), is not taken as a report: the file is
failed with one line saying so. The parent gives every check `timeout` seconds from its start;
a check that overruns is reported as such, the child is killed and the remaining checks are
listed as not run. What the student's code prints goes to the child's stderr and is shown apart.

This is the student's own code on their own machine: the time limit keeps an endless loop from
hanging the checker, and nothing more is sandboxed.
"""
from __future__ import annotations

import importlib.util
import json
import os
import queue
import secrets
import subprocess
import sys
import threading
import time
import traceback
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .exercise import Exercise
from .grading import Fail, Student, one_line
from .registry import exercise_of_file, get_exercise

DEFAULT_TIMEOUT = 5.0   # seconds per check, import of the student's file included
SEED_RANGE = 1_000_000  # a run's seed for the randomized checks: 0 <= seed < SEED_RANGE
STARTUP_TIMEOUT = 60.0  # seconds for the child to start Python and import cdlite (not graded)
IMPORT_TITLE = "import your file"


@dataclass
class Result:
    title: str
    ok: bool | None          # None: not run (an earlier check hung)
    hint: str = ""


@dataclass
class Report:
    exercise: Exercise
    path: str
    results: list = field(default_factory=list)
    fatal: str = ""          # the file could not be graded at all (syntax error, no function, ...)
    output: str = ""         # what the student's code printed (subprocess only)
    seed: int = 0            # the seed of the randomized checks (replay with --seed)

    @property
    def n_passed(self) -> int:
        return sum(r.ok is True for r in self.results)

    @property
    def passed(self) -> bool:
        return not self.fatal and bool(self.results) and all(r.ok for r in self.results)


# ---- in this process ---------------------------------------------------------------------------

def load_student(path, name: str):
    """Import the student's file as a module; a Fail with a one-line reason if it does not."""
    path = Path(path).resolve()
    spec = importlib.util.spec_from_file_location(f"cdlite_student_{name}", path)
    module = importlib.util.module_from_spec(spec)
    folder = str(path.parent)
    if folder not in sys.path:
        sys.path.insert(0, folder)  # the student's own helper files import as in a script
    try:
        spec.loader.exec_module(module)
    except SyntaxError as e:
        raise Fail(f"your file does not parse: {e.msg} at line {e.lineno}"
                   + (f": `{one_line(e.text, 80)}`" if e.text else "")) from None
    except SystemExit:
        raise Fail("your file calls exit() when imported; put test code under "
                   "`if __name__ == \"__main__\":`") from None
    except Exception as e:  # noqa: BLE001  (any error while importing is the student's to fix)
        where = Student(module, str(path)).where(traceback.extract_tb(e.__traceback__))
        raise Fail(f"importing your file raised {type(e).__name__}: {one_line(e, 160)}{where}"
                   ) from None
    return module


def new_seed() -> int:
    """A fresh seed for the randomized checks (a different draw of inputs on every run)."""
    return secrets.randbelow(SEED_RANGE)


def run_checks(exercise: Exercise, path, emit, seed: int = 0) -> None:
    """Import the file and run every check, reporting through emit(event, **data):
    plan(titles), start(index), result(index, ok, hint), fatal(hint), end(). Index -1 is the
    import of the file. Never raises for anything the student's code does."""
    titles = [c.title for c in exercise.checks]
    emit("plan", titles=titles)
    emit("start", index=-1)
    try:
        module = load_student(path, exercise.name)
    except Fail as f:
        emit("fatal", hint=str(f))
        emit("end")
        return
    run_on(exercise, Student(module, str(Path(path).resolve()), seed), emit)


def run_on(exercise: Exercise, student: Student, emit) -> None:
    """Run every check on the student's functions (after the plan and the import)."""
    try:
        for fn in exercise.functions:
            student.function(fn)  # a missing function is one message, not one per check
    except Fail as f:
        emit("fatal", hint=str(f))
        emit("end")
        return
    for i, check in enumerate(exercise.checks):
        emit("start", index=i)
        try:
            with np.errstate(all="ignore"):  # non-finite results are reported as hints instead
                check.run(student)
            ok, hint = True, ""
        except Fail as f:
            ok, hint = False, one_line(f, 400)
        except Exception as e:  # noqa: BLE001
            ok, hint = False, (f"the checker itself failed ({type(e).__name__}: {one_line(e, 120)})"
                               f"; this is a bug in cdlite, please report it")
        emit("result", index=i, ok=ok, hint=hint)
    emit("end")


def _collector(report: Report):
    """emit() for grading in this process: the events become the report's results."""
    def emit(event, **data):
        if event == "result":
            report.results.append(Result(report.exercise.checks[data["index"]].title,
                                         data["ok"], data["hint"]))
        elif event == "fatal":
            report.fatal = data["hint"]
    return emit


def grade_file(path, name: str | None = None, seed: int | None = None) -> Report:
    """Grade `path` in this process (no time limit: for trusted files, e.g. the tests)."""
    exercise = get_exercise(name) if name else exercise_of_file(path)
    report = Report(exercise, str(path), seed=new_seed() if seed is None else int(seed))
    run_checks(exercise, path, _collector(report), report.seed)
    return report


def grade_functions(exercise: Exercise, module, where: str, seed: int | None = None) -> Report:
    """Grade functions that live in `module` (any object with the exercise's functions as
    attributes), in this process: what cdlite.course.check does in a notebook."""
    report = Report(exercise, where, seed=new_seed() if seed is None else int(seed))
    emit = _collector(report)
    emit("start", index=-1)
    run_on(exercise, Student(module, where, report.seed), emit)
    return report


# ---- in a child process with a time limit ------------------------------------------------------

def check_file(path, name: str | None = None, timeout: float = DEFAULT_TIMEOUT,
               seed: int | None = None) -> Report:
    """Grade `path` in a child Python process, at most `timeout` seconds per check."""
    exercise = get_exercise(name) if name else exercise_of_file(path)
    report = Report(exercise, str(path), seed=new_seed() if seed is None else int(seed))
    cmd = [sys.executable, "-m", "cdlite.course.worker", exercise.name, str(Path(path).resolve()),
           str(report.seed)]
    env = dict(os.environ, PYTHONUNBUFFERED="1", PYTHONIOENCODING="utf-8")
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, encoding="utf-8",
                            errors="replace", env=env)
    token = secrets.token_hex(16)
    try:  # the token goes on stdin, read and closed by the child before any student code runs
        proc.stdin.write(token + "\n")
        proc.stdin.close()
    except OSError:
        pass  # the child died at once: reported below as a process that stopped early
    events: queue.Queue = queue.Queue()
    output: deque = deque(maxlen=200)  # the last lines the student's code printed
    threading.Thread(target=_read_events, args=(proc.stdout, events, token, len(exercise.checks)),
                     daemon=True).start()
    err_reader = threading.Thread(target=_read_lines, args=(proc.stderr, output), daemon=True)
    err_reader.start()

    titles, current = [c.title for c in exercise.checks], None
    deadline = time.monotonic() + STARTUP_TIMEOUT
    try:
        while True:
            try:
                event = events.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                _overran(report, titles, current, timeout)
                break
            if event == "forged":
                report.fatal = ("your code wrote to the checker's report channel (a file "
                                "descriptor it did not open); print to stdout or stderr instead")
                _not_run(report, titles)
                break
            if event is None:  # the child's stdout closed without "end"
                proc.wait()
                err_reader.join(timeout=1.0)
                last = next((line for line in reversed(output) if line.strip()), "")
                report.fatal = one_line(f"the checking process stopped early (exit status "
                                        f"{proc.returncode}){': ' + last if last else ''}; "
                                        f"does your code call os._exit or crash Python?")
                _not_run(report, titles)
                break
            kind = event["event"]
            if kind == "start":
                current = event["index"]
                deadline = time.monotonic() + timeout
            elif kind == "result":
                report.results.append(Result(titles[event["index"]], event["ok"], event["hint"]))
                current = None
            elif kind == "fatal":
                report.fatal = event["hint"]
            elif kind == "end":
                break
    finally:
        if proc.poll() is None:
            proc.kill()  # our own child: it overran, or its work is done
        proc.wait()
        err_reader.join(timeout=1.0)
    report.output = "\n".join(output)
    return report


def _read_events(stream, events: queue.Queue, token: str, n_checks: int) -> None:
    """Put each report line of the child on `events` (its token removed), "forged" for a line
    that is not one, then None when the stream ends."""
    for line in stream:
        event = _parse_event(line, token, n_checks)
        events.put(event if event is not None else "forged")
        if event is None:
            break
    events.put(None)


def _parse_event(line: str, token: str, n_checks: int):
    """The event of one report line, or None unless it carries the token and fits the
    protocol: event names, indexes in range, a bool and a str where they belong."""
    try:
        event = json.loads(line)
    except ValueError:
        return None
    if not isinstance(event, dict) or event.pop("token", None) != token:
        return None
    kind, index = event.get("event"), event.get("index", -1)
    index_ok = type(index) is int and -1 <= index < n_checks
    if kind in ("plan", "end") or (kind == "start" and index_ok):
        return event
    if kind == "fatal" and isinstance(event.get("hint"), str):
        return event
    if (kind == "result" and index_ok and index >= 0 and type(event.get("ok")) is bool
            and isinstance(event.get("hint"), str)):
        return event
    return None


def _read_lines(stream, lines: deque) -> None:
    for line in stream:
        lines.append(line.rstrip("\n"))


def _overran(report: Report, titles, current, timeout: float) -> None:
    if current is None and not report.results:
        report.fatal = (f"the checker did not start within {STARTUP_TIMEOUT:g} s; is the machine "
                        f"very busy? Try again")
    elif current is None:  # between two checks: only the grader ran, so count it as the next
        if len(report.results) == len(titles):
            return  # every check had reported: nothing was lost
        report.results.append(Result(titles[len(report.results)], False, (
            f"the check did not finish within {timeout:g} s; the machine may be very busy: try "
            f"again with --timeout {4 * timeout:g}")))
    elif current == -1:
        report.fatal = (f"importing your file did not finish within {timeout:g} s: is there code "
                        f"at the top level that runs long? Put it under `if __name__ == "
                        f"\"__main__\":`")
    else:
        report.results.append(Result(titles[current], False, (
            f"your code did not return within {timeout:g} s (an endless loop? a very large "
            f"array?); it was stopped, the remaining checks were not run")))
    _not_run(report, titles)


def _not_run(report: Report, titles) -> None:
    if report.fatal and not report.results:
        return
    for title in titles[len(report.results):]:
        report.results.append(Result(title, None, "not run"))


# ---- what the student reads --------------------------------------------------------------------

def format_report(report: Report) -> str:
    """The text `cdlite exercise check` prints: one line per check, the hint under a failure."""
    from .exercise import LESSONS
    e = report.exercise
    lines = [f"exercise {e.name} (lesson {e.lesson}: {LESSONS[e.lesson][1]}): {report.path}"
             f" (random inputs: seed {report.seed})"]
    if report.fatal:
        lines.append(f"  FAIL  {IMPORT_TITLE}")
        lines.append(f"        {report.fatal}")
    for r in report.results:
        mark = {True: "pass", False: "FAIL", None: "----"}[r.ok]
        lines.append(f"  {mark}  {r.title}")
        if r.ok is False:
            lines.append(f"        {r.hint}")
    n = len(e.checks)
    if report.passed:
        lines.append(f"all {n} checks pass.")
    else:
        lines.append(f"{report.n_passed} of {n} checks pass.")
    if report.output.strip():
        shown = report.output.strip().splitlines()[-20:]
        lines.append("your code printed (last lines):")
        lines += [f"  | {one_line(line, 200)}" for line in shown]  # a megabyte line: its start
    return "\n".join(lines)
