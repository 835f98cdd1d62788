"""The exercises and their checker (cdlite.course, `cdlite exercise`).

For every exercise: the untouched template fails; cdlite's own implementation, pasted into the
template, passes; realistic mistakes fail with the hint that names them. These run in this
process (grade_file) to stay fast; the child-process runner (time limit, a file that raises,
hangs, returns the wrong shape or does not parse) and the click commands are tested separately.
"""
import ast
import pathlib
import re
import textwrap

import pytest
from click.testing import CliRunner

from cdlite.course import EXERCISES, LESSONS, STUB, check_file, format_report, grade_file
from cdlite.course.registry import exercise_of_file, start_exercise
from cdlite.errors import CdliteError
from cdlite_cli.exercise import exercise as exercise_cli

ANSWERS = pathlib.Path(__file__).resolve().parent.parent / "docs" / "answers.md"


def _solutions_from_the_answer_key() -> dict:
    """{exercise: {function: body}}: the reference solutions of docs/answers.md (the instructor's
    answer key), each a code block titled NAME.py; the tests grade them, so the key stays right."""
    out = {}
    for name, code in re.findall(r'```python title="(\w+)\.py"\n(.*?)```',
                                 ANSWERS.read_text(), flags=re.S):
        lines = code.splitlines()
        out[name] = {f.name: textwrap.dedent("\n".join(lines[f.body[0].lineno - 1:f.end_lineno]))
                     for f in ast.parse(code).body if isinstance(f, ast.FunctionDef)}
    return out


# cdlite's own implementation of each function, pasted into the template's body.
SOLUTIONS = _solutions_from_the_answer_key()

# (exercise, what the student got wrong, {function: body}, the hint that must name it)
MISTAKES = [
    ("silu", "product rule", {"silu_backward": """
        s = 1.0 / (1.0 + np.exp(-x))
        return dy * s
     """}, "(yours is sigmoid(x) alone"),
    ("silu", "no dy", {"silu_backward": """
        s = 1.0 / (1.0 + np.exp(-x))
        return s * (1.0 + x * (1.0 - s))
     """}, "yours ignores dy"),
    ("silu", "sigmoid forward", {"silu_forward": """
        return 1.0 / (1.0 + np.exp(-x))
     """}, "(yours is sigmoid(x): SiLU multiplies it by x)"),
    ("linear", "dW transposed", {"linear_backward": """
        return dy @ W.T, dy.T @ x, dy.sum(axis=0)
     """}, "dW has shape (3, 5), expected (5, 3) (the shape of W, (I, O))"),
    ("linear", "db averaged", {"linear_backward": """
        return dy @ W.T, x.T @ dy, dy.mean(axis=0)
     """}, "yours is the mean over the batch"),
    ("linear", "W not transposed", {"linear_backward": """
        return dy @ W, x.T @ dy, dy.sum(axis=0)
     """}, "yours is dy @ W: it needs W transposed"),
    ("layernorm", "mean and variance as constants", {"layernorm_backward": """
        mu = x.mean(axis=-1, keepdims=True)
        rstd = 1.0 / np.sqrt(((x - mu) ** 2).mean(axis=-1, keepdims=True) + eps)
        xhat = (x - mu) * rstd
        return dy * gamma * rstd, (dy * xhat).sum(axis=0), dy.sum(axis=0)
     """}, "yours treats the row's mean and variance as constants"),
    ("layernorm", "dgamma without xhat", {"layernorm_backward": SOLUTIONS["layernorm"][
        "layernorm_backward"].replace("(dy * xhat).sum(axis=0), dy.sum", "dy.sum(axis=0), dy.sum")},
     "yours misses the factor xhat"),
    ("layernorm", "eps ignored", {"layernorm_backward": SOLUTIONS["layernorm"][
        "layernorm_backward"].replace(" + eps)", ")")}, "yours ignores eps"),
    ("edm_precond", "sigma for sigma^2", {"edm_coeffs": SOLUTIONS["edm_precond"]["edm_coeffs"]
                                          .replace("c_skip = sigma_data ** 2 / s2",
                                                   "c_skip = sigma_data ** 2 / (sigma + "
                                                   "sigma_data ** 2)")},
     "yours has sigma where sigma^2 belongs"),
    ("edm_precond", "c_noise without 1/4", {"edm_coeffs": SOLUTIONS["edm_precond"]["edm_coeffs"]
                                            .replace("np.log(sigma) / 4.0", "np.log(sigma)")},
     "yours misses the factor 1/4"),
    ("edm_precond", "c_in without sqrt", {"edm_coeffs": SOLUTIONS["edm_precond"]["edm_coeffs"]
                                          .replace("c_in = 1.0 / np.sqrt(s2)", "c_in = 1.0 / s2")},
     "Var(c_in y) at sigma"),
    ("edm_loss", "missing factor 2", {"edm_loss_and_grad": SOLUTIONS["edm_loss"][
        "edm_loss_and_grad"].replace("(2.0 / err.size)", "(1.0 / err.size)")},
     "yours misses the factor 2 of the square"),
    ("edm_loss", "gradient w.r.t. D", {"edm_loss_and_grad": SOLUTIONS["edm_loss"][
        "edm_loss_and_grad"].replace("dD * c_out", "dD")}, "yours is dL/dD"),
    ("edm_loss", "sigma not a column", {"edm_loss_and_grad": SOLUTIONS["edm_loss"][
        "edm_loss_and_grad"].replace("s = sigma[:, None]", "s = sigma")},
     "yours applies sigma[j] to column j"),
    ("edm_loss", "sigma in lambda", {"edm_loss_and_grad": SOLUTIONS["edm_loss"][
        "edm_loss_and_grad"].replace("lam = s2 / (s * sigma_data) ** 2",
                                     "lam = (s + sigma_data ** 2) / (s * sigma_data) ** 2")},
     "yours has sigma where sigma^2 belongs in lambda"),
    ("heun_step", "Euler only", {"heun_step": """
        return x + (sigma_next - sigma) * (x - denoiser(x, sigma)) / sigma
     """}, "yours is the Euler step alone"),
    ("heun_step", "correction on the last step", {"heun_step": """
        d = (x - denoiser(x, sigma)) / sigma
        x_euler = x + (sigma_next - sigma) * d
        d_next = (x_euler - denoiser(x_euler, sigma_next)) / sigma_next
        return x + (sigma_next - sigma) * 0.5 * (d + d_next)
     """}, "the step to sigma_next = 0 is a plain Euler step"),
    ("heun_step", "no correction below sigma_next = 0.5", {"heun_step": SOLUTIONS["heun_step"][
        "heun_step"].replace("if sigma_next > 0:", "if sigma_next >= 0.5:")},
     "after one step sigma 0.6 -> 0.3"),
    ("heun_step", "special-cases the sigmas a check names", {"heun_step": SOLUTIONS["heun_step"][
        "heun_step"].replace("if sigma_next > 0:", "if sigma_next in (1.2, 0.9, 0.8, 0.3, 0.01):")},
     "[random inputs, seed "),
    ("heun_step", "second slope at x", {"heun_step": SOLUTIONS["heun_step"]["heun_step"].replace(
        "(x_next - denoiser(x_next, sigma_next))", "(x - denoiser(x, sigma_next))")},
     "yours takes the second slope at x"),
    ("empirical_denoiser", "sigma for sigma^2", {"empirical_denoiser": SOLUTIONS[
        "empirical_denoiser"]["empirical_denoiser"].replace("(2.0 * sigma ** 2)", "(2.0 * sigma)")},
     "yours has sigma where sigma^2 belongs"),
    ("empirical_denoiser", "no log-sum-exp", {"empirical_denoiser": """
        d2 = ((y[:, None, :] - train[None, :, :]) ** 2).sum(axis=-1)
        w = np.exp(-d2 / (2.0 * sigma ** 2))
        return (w / w.sum(axis=1, keepdims=True)) @ train
     """}, "subtract each row's own largest logit"),
    ("empirical_denoiser", "one maximum for all rows", {"empirical_denoiser": SOLUTIONS[
        "empirical_denoiser"]["empirical_denoiser"].replace("logits.max(axis=1, keepdims=True)",
                                                            "logits.max()")},
     "subtract each row's own largest logit, logits.max(axis=1, keepdims=True)"),
    ("empirical_denoiser", "softmax over the batch", {"empirical_denoiser": SOLUTIONS[
        "empirical_denoiser"]["empirical_denoiser"].replace("axis=1, keepdims",
                                                            "axis=0, keepdims")},
     "yours normalizes the weights over the batch"),
    ("cd_loss", "gradient through the target", {"cd_loss_and_grad": """
        from cdlite.diffusion.samplers import heun_step, slope
        x_next = x + t_next * z
        d, _ = slope(teacher, x_next, t_next)
        x_hat = heun_step(teacher, x_next, d, t_next, t_n)
        f_target, cache_t = student.forward(target_params, x_hat, t_n[:, 0])
        f, cache = student.forward(params, x_next, t_next[:, 0])
        diff = f - f_target
        df = (2.0 / diff.size) * diff
        grads = student.backward(params, df, cache)
        grads_t = student.backward(target_params, -df, cache_t)
        return float((diff * diff).mean()), {k: grads[k] + grads_t[k] for k in grads}
     """}, "yours also differentiates the target"),
    ("cd_loss", "target from params", {"cd_loss_and_grad": SOLUTIONS["cd_loss"][
        "cd_loss_and_grad"].replace("student.forward(target_params,", "student.forward(params,")},
     "yours computes the target with params"),
    ("cd_loss", "Euler teacher step", {"cd_loss_and_grad": SOLUTIONS["cd_loss"][
        "cd_loss_and_grad"].replace("x_hat = heun_step(teacher, x_next, d, t_next, t_n)",
                                    "x_hat = x_next + (t_n - t_next) * d")},
     "yours takes an Euler step of the teacher"),
    ("cd_loss", "missing factor 2", {"cd_loss_and_grad": SOLUTIONS["cd_loss"][
        "cd_loss_and_grad"].replace("(2.0 / diff.size)", "(1.0 / diff.size)")},
     "yours misses the factor 2 of the square"),
    ("f_mem", "squared distances", {"is_memorized": """
        d2 = np.sort(((samples[:, None, :] - train[None]) ** 2).sum(axis=-1), axis=1)
        return d2[:, 0] / d2[:, 1] < threshold
     """}, "yours compares squared distances"),
    ("f_mem", "threshold hard-coded", {"is_memorized": SOLUTIONS["f_mem"]["is_memorized"]
                                       .replace("< threshold", "< 1 / 3")},
     "yours ignores the threshold argument"),
    ("f_mem", "farthest point", {"is_memorized": SOLUTIONS["f_mem"]["is_memorized"]
                                 .replace("d[:, 1]", "d[:, -1]")},
     "yours takes the farthest training point"),
]


def fill(name, bodies, path):
    """Write the exercise's template to `path` with the given function bodies pasted in."""
    text = EXERCISES[name].template(str(path))
    for fn, body in bodies.items():
        stub = STUB.format(fn)
        assert stub in text, f"{name}: no stub for {fn}"
        lines = textwrap.dedent(body).strip("\n").splitlines()
        text = text.replace(stub, "\n    ".join(lines))
    path.write_text(text)
    return path


def failures(report):
    return {r.title: r.hint for r in report.results if r.ok is False}


# ---- every exercise: template fails, solution passes, mistakes fail with the right hint -------

def test_every_exercise_has_a_solution_and_two_mistakes():
    assert set(SOLUTIONS) == set(EXERCISES)
    for name in EXERCISES:
        assert sum(m[0] == name for m in MISTAKES) >= 2, f"{name}: fewer than two mistakes"
    assert len(EXERCISES) >= 9


@pytest.mark.parametrize("name", list(EXERCISES))
def test_untouched_template_fails_every_check(name, tmp_path):
    path = tmp_path / f"{name}.py"
    path.write_text(EXERCISES[name].template(str(path)))
    report = grade_file(path)
    assert not report.fatal, report.fatal
    assert len(report.results) == len(EXERCISES[name].checks)
    assert report.n_passed == 0 and not report.passed
    for r in report.results:
        assert "is not written yet" in r.hint, r.hint


@pytest.mark.parametrize("name", list(EXERCISES))
def test_cdlite_implementation_passes(name, tmp_path):
    report = grade_file(fill(name, SOLUTIONS[name], tmp_path / f"{name}.py"))
    assert report.passed, format_report(report)


@pytest.mark.parametrize("name, what, bodies, hint", MISTAKES,
                         ids=[f"{m[0]}-{m[1]}" for m in MISTAKES])
def test_mistake_fails_with_its_hint(name, what, bodies, hint, tmp_path):
    report = grade_file(fill(name, {**SOLUTIONS[name], **bodies}, tmp_path / f"{name}.py"))
    assert not report.passed, f"{name}: the mistake '{what}' passed every check"
    hints = failures(report)
    assert any(hint in h for h in hints.values()), (
        f"{name}, '{what}': no hint contains {hint!r}; hints: {hints}")
    for h in hints.values():
        assert "\n" not in h and "Traceback" not in h and len(h) <= 400


def test_cd_reference_is_cdlite_cd_loss():
    """The CD exercise's reference (cdlite's pieces, draws given) is cd_loss itself."""
    import numpy as np

    from cdlite.backend import make_rng, randint
    from cdlite.course.ex_cd import _cd_case, _cd_reference
    from cdlite.diffusion import consistency_grid
    from cdlite.distill import cd_loss
    student, params, target, teacher, x, _, _, _ = _cd_case(5)
    grid = consistency_grid(12, 0.002, 10.0)
    loss_lib, grads_lib = cd_loss(student, params, target, teacher, x, grid, make_rng(9))
    rng = make_rng(9)  # the same draws, in cd_loss's order: n, then z
    idx = randint(rng, 0, len(grid) - 1, len(x))
    z = rng.standard_normal(x.shape)
    loss, grads = _cd_reference(student, params, target, teacher, x, grid[idx][:, None],
                                grid[idx + 1][:, None], z)
    assert loss == pytest.approx(loss_lib, rel=1e-12)
    assert grads.keys() == grads_lib.keys()
    for k in grads:
        np.testing.assert_allclose(grads[k], grads_lib[k], rtol=1e-10, atol=1e-14)


# ---- the checker's rules -------------------------------------------------------------------

def test_hint_names_quantity_values_and_the_students_line(tmp_path):
    bodies = {**SOLUTIONS["silu"], "silu_backward": "return dy * np.log(x)"}
    report = grade_file(fill("silu", bodies, tmp_path / "silu.py"))
    hint = failures(report)["silu_backward: the derivative (dy = 1), by central differences"]
    # log of a negative x is nan: the hint says which value and that it is not finite
    assert re.search(r"silu_backward\(x, dy = 1\) has nan at index \[\d+, \d+\]", hint), hint


def test_error_in_student_code_names_its_line(tmp_path):
    bodies = {**SOLUTIONS["linear"], "linear_backward": "return dy @ W, x.T @ dy, dy.sum(0)"}
    path = fill("linear", bodies, tmp_path / "linear.py")
    hint = failures(grade_file(path))["linear_backward: returns dx, dW, db with the shapes of x, "
                                      "W, b"]
    line = next(i for i, t in enumerate(path.read_text().splitlines(), 1) if "dy @ W," in t)
    assert hint.startswith("`linear_backward` raised ValueError: matmul"), hint
    assert f"(your line {line}: `return dy @ W, x.T @ dy, dy.sum(0)`)" in hint, hint


def test_wrong_shape_and_missing_return_are_named(tmp_path):
    bodies = {"silu_forward": "return x.ravel()", "silu_backward": "dx = dy * 2"}
    hints = failures(grade_file(fill("silu", bodies, tmp_path / "silu.py")))
    assert ("silu_forward(x) has shape (60,), expected (3, 4, 5) (the shape of x)"
            in hints["silu_forward: values on a (3, 4, 5) array"])
    assert "returned None: did you forget `return`?" in hints[
        "silu_backward: the chain rule with a random dy"]


def test_inputs_are_copies(tmp_path):
    """A student function that overwrites its input must not corrupt the reference."""
    bodies = {"is_memorized": "train[:] = 0.0\n"
                              + textwrap.dedent(SOLUTIONS["f_mem"]["is_memorized"])}
    report = grade_file(fill("f_mem", bodies, tmp_path / "f_mem.py"))
    assert report.n_passed == 0  # its answers are wrong, yet the grading itself did not crash
    assert all("checker itself failed" not in r.hint for r in report.results)


def test_missing_function_and_syntax_error_are_one_message(tmp_path):
    path = tmp_path / "heun_step.py"
    path.write_text("import numpy as np\n\ndef heun(x):\n    return x\n")
    report = grade_file(path)
    assert report.fatal.startswith("your file has no function `heun_step`"), report.fatal
    assert not report.results
    path.write_text("def heun_step(denoiser, x, sigma, sigma_next)\n    return x\n")
    assert grade_file(path).fatal.startswith("your file does not parse: ")
    assert "at line 1" in grade_file(path).fatal


# ---- in a child process, with a time limit -------------------------------------------------

def test_child_process_passes_a_solution_and_shows_prints(tmp_path):
    bodies = {"is_memorized": "print('debug: m =', len(samples))\n"
                              + textwrap.dedent(SOLUTIONS["f_mem"]["is_memorized"])}
    report = check_file(fill("f_mem", bodies, tmp_path / "f_mem.py"), timeout=20)
    assert report.passed, format_report(report)
    assert "debug: m = 40" in report.output
    assert "your code printed" in format_report(report)


def test_child_process_stops_an_endless_loop(tmp_path):
    bodies = {**SOLUTIONS["silu"], "silu_backward": "while True:\n    pass"}
    report = check_file(fill("silu", bodies, tmp_path / "silu.py"), timeout=1.5)
    assert [r.ok for r in report.results] == [True, False, None, None]
    assert "did not return within 1.5 s" in report.results[1].hint
    assert report.results[2].hint == "not run"
    text = format_report(report)
    assert "Traceback" not in text and "1 of 4 checks pass." in text


def test_child_process_reports_import_errors_and_hangs(tmp_path):
    path = tmp_path / "silu.py"
    path.write_text("import numpy as np\nraise RuntimeError('oops')\n")
    report = check_file(path, timeout=20)
    assert report.fatal == ("importing your file raised RuntimeError: oops (your line 2: "
                            "`raise RuntimeError('oops')`)")
    path.write_text("import time\ntime.sleep(30)\n")
    report = check_file(path, timeout=1.0)
    assert report.fatal.startswith("importing your file did not finish within 1 s")


# ---- the files and the command line --------------------------------------------------------

def test_template_reads_as_an_exercise(tmp_path):
    for name, e in EXERCISES.items():
        path = tmp_path / f"{name}.py"
        text = e.template(str(path))
        assert text.startswith(f'"""cdlite exercise: {name} (lesson {e.lesson}: ')
        assert f"cdlite exercise check {path}" in text
        assert e.lesson in LESSONS and LESSONS[e.lesson][0] in text
        compile(text, str(path), "exec")
        for fn in e.functions:
            assert f"def {fn}(" in text and STUB.format(fn) in text


def test_renamed_file_is_found_by_its_first_line(tmp_path):
    path = start_exercise("heun_step", tmp_path)
    renamed = path.rename(tmp_path / "my_try.py")
    assert exercise_of_file(renamed).name == "heun_step"
    (tmp_path / "other.py").write_text("x = 1\n")
    with pytest.raises(CdliteError, match="cannot tell which exercise"):
        exercise_of_file(tmp_path / "other.py")


def test_cli_list_start_check(tmp_path):
    runner = CliRunner()
    out = runner.invoke(exercise_cli, ["list"])
    assert out.exit_code == 0
    for name in EXERCISES:
        assert re.search(rf"^{name}\s+lesson \d", out.output, re.M), out.output

    out = runner.invoke(exercise_cli, ["start", "silu", str(tmp_path / "ex")])
    assert out.exit_code == 0, out.output
    path = tmp_path / "ex" / "silu.py"
    assert path.exists() and f"cdlite exercise check {path}" in out.output

    out = runner.invoke(exercise_cli, ["start", "silu", str(tmp_path / "ex")])
    assert out.exit_code == 2 and out.output.startswith("Error: ")
    assert "exists already" in out.output and len(out.output.strip().splitlines()) == 1

    out = runner.invoke(exercise_cli, ["check", str(path)])  # the untouched template
    assert out.exit_code == 1
    assert "0 of 4 checks pass." in out.output and "is not written yet" in out.output

    fill("silu", SOLUTIONS["silu"], path)
    out = runner.invoke(exercise_cli, ["check", str(path)])
    assert out.exit_code == 0, out.output
    assert "all 4 checks pass." in out.output


@pytest.mark.parametrize("args, message", [
    (["start", "sillu", "ex"], "no exercise called 'sillu'; the exercises are edm_precond, "),
    (["check", "nowhere/silu.py"], "nowhere/silu.py does not exist"),
    (["check", "--timeout", "0", "x.py"], "--timeout"),
])
def test_cli_user_errors_are_one_line(args, message, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = CliRunner().invoke(exercise_cli, args)
    assert out.exit_code == 2, out.output
    assert message in out.output and "Traceback" not in out.output


# ---- graders that cannot be fooled (issue 21), the report channel and symlinks (issue 22) ----

def test_hint_points_at_the_largest_error_not_the_first():
    """A sign error in LayerNorm's variance term: the first wrong entry is the least wrong."""
    import numpy as np

    from cdlite.course.grading import Fail, compare
    expected = np.array([0.7047, 0.2, -1.5, 0.9])
    yours = np.array([0.7038, 0.2, -0.4, 0.9])  # entry 0 slightly wrong, entry 2 badly wrong
    with pytest.raises(Fail) as e:
        compare(yours, expected, lambda i: f"dx[{i[0]}]")
    assert str(e.value).startswith("dx[2]: yours -0.4, expected -1.5"), str(e.value)


def test_layernorm_variance_sign_error_hint_shows_the_largest_error(tmp_path):
    import numpy as np
    body = SOLUTIONS["layernorm"]["layernorm_backward"].replace(
        "- xhat * (dxhat * xhat)", "+ xhat * (dxhat * xhat)")
    report = grade_file(fill("layernorm", {"layernorm_backward": body},
                             tmp_path / "layernorm.py"), seed=1)
    hint = failures(report)["dx by central differences"]
    got = re.search(r"yours (\S+), expected (\S+)", hint)
    err = abs(float(got.group(1)) - float(got.group(2)))
    from cdlite.course.ex_backprop import _layernorm_case, _layernorm_numeric
    x, gamma, beta, dy = _layernorm_case(223, 4, 7)
    dx_ref = _layernorm_numeric(x, gamma, beta, dy, 1e-5)[0]
    xc = x - x.mean(1, keepdims=True)
    rstd = 1 / np.sqrt((xc ** 2).mean(1, keepdims=True) + 1e-5)
    xhat, dxhat = xc * rstd, dy * gamma
    wrong = rstd * (dxhat - dxhat.mean(1, keepdims=True) + xhat * (dxhat * xhat).mean(1,
                                                                                   keepdims=True))
    assert err > 0.5 * np.abs(wrong - dx_ref).max(), hint


def test_randomized_checks_name_their_seed_and_replay(tmp_path):
    body = SOLUTIONS["heun_step"]["heun_step"].replace(
        "if sigma_next > 0:", "if sigma_next in (1.2, 0.9, 0.8, 0.3, 0.01):")
    path = fill("heun_step", {"heun_step": body}, tmp_path / "heun_step.py")
    a, b = grade_file(path, seed=123), grade_file(path, seed=123)
    title = EXERCISES["heun_step"].checks[-1].title
    assert failures(a)[title] == failures(b)[title]
    assert failures(a)[title].endswith("[random inputs, seed 123]")
    assert "(random inputs: seed 123)" in format_report(a).splitlines()[0]
    c = grade_file(path, seed=124)
    assert failures(c)[title] != failures(a)[title]  # other inputs


def test_every_exercise_has_a_randomized_check():
    for e in EXERCISES.values():
        assert any(getattr(c.run, "randomized", False) for c in e.checks), e.name


@pytest.mark.parametrize("name", list(EXERCISES))
def test_solutions_pass_for_many_seeds(name, tmp_path):
    path = fill(name, SOLUTIONS[name], tmp_path / f"{name}.py")
    for seed in range(4 if name == "cd_loss" else 12):
        report = grade_file(path, seed=seed)
        assert report.passed, format_report(report)


def test_templates_ask_for_a_derivation_with_hints():
    """The templates that used to state their formula now state what to derive."""
    stated = {"edm_precond": "sigma_data^2 / (sigma^2 + sigma_data^2)",
              "silu": "s(x) (1 - s(x))", "heun_step": "(d + d') / 2",
              "empirical_denoiser": "softmax", "f_mem": "|x - a_(1)| / |x - a_(2)|"}
    for name, formula in stated.items():
        assert formula not in EXERCISES[name].template("x.py"), name
    for e in EXERCISES.values():
        assert len(e.hints) >= 3, e.name


def test_cli_hint_unlocks_one_by_one():
    runner = CliRunner()
    one = runner.invoke(exercise_cli, ["hint", "edm_precond"])
    assert one.exit_code == 0 and one.output.startswith("hint 1 of 4: Var(y)")
    assert "hint 2" not in one.output and "cdlite exercise hint edm_precond 2" in one.output
    all4 = runner.invoke(exercise_cli, ["hint", "edm_precond", "9"])
    assert all4.output.count("hint ") == 4 and "next one" not in all4.output
    bad = runner.invoke(exercise_cli, ["hint", "nope"])
    assert bad.exit_code == 2 and "no exercise called 'nope'" in bad.output


def test_check_in_a_notebook_cell(capsys):
    import numpy as np

    from cdlite.course import check

    def silu_forward(x):
        return x / (1.0 + np.exp(-x))

    def my_backward(x, dy):  # renamed: matched by position
        s = 1.0 / (1.0 + np.exp(-x))
        return dy * s * (1.0 + x * (1.0 - s))

    report = check("silu", silu_forward, my_backward, seed=5)
    out = capsys.readouterr().out
    assert report.passed and "all 4 checks pass." in out and "seed 5" in out
    assert repr(report) == "<silu: 4 of 4 checks pass>"

    def silu_backward(x, dy):
        return dy / (1.0 + np.exp(-x))

    report = check("silu", silu_forward, silu_backward, hint=2, seed=5)
    out = capsys.readouterr().out
    assert not report.passed and "FAIL  silu_backward: the derivative" in out
    assert "hint 1 of 4: The product rule" in out and "hint 2 of 4" in out
    assert "hint 3 of 4" not in out


FORGE = '''
import os
_line = b'{"event": "result", "index": 0, "ok": true, "hint": ""}\\n{"event": "end"}\\n'
for _fd in range(3, 40):
    try:
        os.write(_fd, _line)
    except OSError:
        pass
'''


@pytest.mark.parametrize("payload", [
    FORGE,  # forged results: would pass an empty solution
    FORGE.replace(', "index": 0, "ok": true, "hint": ""', ''),  # malformed: was a traceback
    "import os\nfor _fd in range(3, 40):\n    try:\n        os.close(_fd)\n    except OSError:\n"
    "        pass\n",  # the channel closed
])
def test_report_channel_cannot_be_forged_or_crashed(payload, tmp_path):
    path = tmp_path / "silu.py"
    path.write_text(EXERCISES["silu"].template(str(path)).replace(
        'raise NotImplementedError("write silu_forward")', payload.replace("\n", "\n    ")
        + "\n    return x", 1))
    report = check_file(path, timeout=20)
    text = format_report(report)
    assert not report.passed and "Traceback" not in text
    assert report.fatal and "\n" not in report.fatal, text


def test_start_never_writes_through_a_symlink(tmp_path):
    outside = tmp_path / "outside.txt"
    outside.write_text("precious\n")
    folder = tmp_path / "ex"
    folder.mkdir()
    (folder / "silu.py").symlink_to(outside)
    with pytest.raises(CdliteError, match="is a symbolic link"):
        start_exercise("silu", folder)
    path = start_exercise("silu", folder, force=True)
    assert outside.read_text() == "precious\n"
    assert not path.is_symlink() and path.read_text().startswith('"""cdlite exercise: silu')
    (folder / "heun_step.py").symlink_to(tmp_path / "nowhere.py")  # a dangling link
    with pytest.raises(CdliteError, match="is a symbolic link"):
        start_exercise("heun_step", folder)
    assert not (tmp_path / "nowhere.py").exists()


# ---- the capstone ---------------------------------------------------------------------------

def _capstone_folder(tmp_path, **bodies):
    for name in ("edm_loss", "heun_step", "cd_loss", "f_mem"):
        fill(name, {**SOLUTIONS[name], **bodies.get(name, {})}, tmp_path / f"{name}.py")
    return tmp_path


def test_capstone_quick_runs_the_pipeline_on_the_students_code(tmp_path):
    """--quick: every stage runs with the student's four functions (the outcomes need the full
    budgets: `cdlite exercise capstone` took 11 s, all three passing)."""
    from cdlite.course.capstone import run_capstone
    report = run_capstone(_capstone_folder(tmp_path), quick=True, log=lambda line: None)
    assert not report.fatal, report.text()
    assert [t for t, _, _ in report.outcomes] == [
        "the teacher memorizes: f_mem >= 0.8",
        "the student lies below the teacher's curve at matched log-likelihood",
        "your f_mem agrees with cdlite's on every sample set"]
    assert report.outcomes[2][1], report.text()  # the student's f_mem is cdlite's
    assert "teacher: 150 steps with your edm_loss" in report.text()


def test_capstone_bad_folders_are_one_line(tmp_path):
    from cdlite.course.capstone import run_capstone
    out = CliRunner().invoke(exercise_cli, ["capstone", str(tmp_path / "nowhere")])
    assert out.exit_code == 2 and "is not a folder" in out.output, out.output
    (tmp_path / "edm_loss.py").write_text("x = 1\n")
    out = CliRunner().invoke(exercise_cli, ["capstone", str(tmp_path)])
    assert out.exit_code == 2 and "has no heun_step.py, cd_loss.py, f_mem.py" in out.output
    (tmp_path / "c").mkdir()
    folder = _capstone_folder(tmp_path / "c", heun_step={"heun_step": "return x"})
    report = run_capstone(folder, log=lambda line: None)
    assert report.fatal.startswith("heun_step.py: 0 of 5 checks pass"), report.fatal
    assert "cdlite exercise check" in report.fatal and "\n" not in report.fatal
