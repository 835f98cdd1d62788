"""What the command-line tests share: the smallest quick run, and invoking `cdlite` in-process
with the rule that no traceback ever reaches the user."""
import json

from click.testing import CliRunner

from cdlite_cli.main import main

# a quick run cut down to seconds: enough stages and points to exercise every file a run writes
TINY = ["--quick", "--set", "teacher.steps=40", "--set", "distill.steps=20",
        "--set", "eval.n_samples=100", "--set", "eval.n_curve=50", "--set", "eval.n_boot=50"]


def invoke(*args):
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert "Traceback" not in result.output, result.output
    return result


def metrics(folder):
    return json.loads((folder / "metrics.json").read_text())
