"""The quick toy run's fingerprint: every value of its metrics.json (seed 0), and the rules that
say how far another machine may move each one.

    python tools/fingerprint.py            a fresh quick run against the stored fingerprint
    python tools/fingerprint.py --exact    the same, bit for bit (only on the machine that wrote it)
    python tools/fingerprint.py --write    store a fresh quick run as the fingerprint

Why tolerances and not bits: the run trains two networks for hundreds of steps, so a BLAS
build or an operation order that rounds differently (a different CPU, or nn/ rewritten) moves
every float a little while the science stays the same. The rules:
  - the structure is exact: every stored key is there, with the same type and list lengths;
  - what is exact stays exact: the config, texts, counts of points, NFE, steps, sampler names;
  - f_mem, coverage and their intervals may move by the stored row's 95% bootstrap interval
    width (at least 0.05): that is how much a rerun with new sampling noise moves them;
  - every other measured number (quality scores, distances, gaps) by 10% of its size (at least
    0.02), histogram counts by 10% of the samples; verdicts read off curves at a threshold
    (converged, the growth statement, the frontier's crossing) only keep their type.
Measured (this machine, OpenBLAS): initial weights scaled by 1 + 1e-6 z, ten times float32
rounding, move the quality scores by about 1e-5 relative and no f_mem; by 1 + 1e-3 z, the
energy distance by up to 10% and f_mem by up to 0.015. A lost key, a broken metric or a
changed count still fails; a rounding difference does not.
"""
import cdlite  # noqa: F401  (first: one BLAS thread)

import json
import math
import sys
import tempfile
from pathlib import Path

FINGERPRINT = Path(__file__).resolve().parent.parent / "tests" / "data" / \
    "quick_toy_fingerprint.json"
LEFT_OUT = ("timings_s",)      # wall-clock times: never the same twice
TYPE_ONLY = ("converged", "statement", "frontier")  # verdicts at a threshold, and
#                                                   the sentence that states one
F_MEM = ("f_mem", "coverage", "f_mem_ci", "chance")


def quick_metrics() -> dict:
    """metrics.json of `cdlite run toy-gaussians --quick` (seed 0), as written to disk."""
    from cdlite.catalog import get_recipe
    from cdlite.runs.runner import run_recipe
    recipe = get_recipe("toy-gaussians")
    with tempfile.TemporaryDirectory() as tmp:
        run_recipe(recipe, recipe.quick(recipe.defaults), Path(tmp) / "run", progress=False)
        return json.loads((Path(tmp) / "run" / "metrics.json").read_text())


def differences(stored, new, exact: bool = False) -> list[str]:
    """Where `new` leaves the fingerprint `stored` (empty: it reproduces it)."""
    return list(_walk(stored, new, "metrics", exact, row=None, rule="exact"))


def _walk(a, b, path, exact, row, rule):
    if type(a) is not type(b) and not (isinstance(a, float) and isinstance(b, int)):
        yield f"{path}: {type(b).__name__} {b!r:.40}, stored {type(a).__name__} {a!r:.40}"
    elif isinstance(a, dict):
        if "f_mem_ci" in a:  # a row or curve point: its interval sizes the f_mem tolerance
            row = a
        for k, v in a.items():
            if k not in b:
                yield f"{path}.{k}: missing"
                continue
            sub_rule = ("type" if k in TYPE_ONLY or rule == "type" else
                        "f_mem" if k in F_MEM else "count" if k == "counts" else rule)
            yield from _walk(v, b[k], f"{path}.{k}", exact, row, sub_rule)
    elif isinstance(a, list):
        if len(a) != len(b):
            yield f"{path}: {len(b)} items, stored {len(a)}"
        else:
            for i, (x, y) in enumerate(zip(a, b)):
                yield from _walk(x, y, f"{path}[{i}]", exact, row, rule)
    elif not _close(a, b, exact, row, rule):
        yield f"{path}: {b!r}, stored {a!r} ({rule} rule)"


def _close(a, b, exact, row, rule) -> bool:
    if exact or a is None or isinstance(a, (str, bool)):
        return a == b or (rule == "type" and not exact)
    if rule == "type":
        return True
    if rule == "count":
        return abs(b - a) <= 0.1 * (row or {}).get("n_samples", 0) + 1
    if isinstance(a, int) and rule == "exact" and not isinstance(b, float):
        return a == b
    if not (math.isfinite(a) and math.isfinite(b)):
        return str(a) == str(b)
    if rule == "f_mem":
        lo, hi = (row or {}).get("f_mem_ci") or (0.0, 0.0)
        return abs(b - a) <= max(0.05, hi - lo)
    return abs(b - a) <= max(0.02, 0.1 * abs(a))


def main(argv) -> int:
    if "--write" in argv:
        kept = {k: v for k, v in quick_metrics().items() if k not in LEFT_OUT}
        FINGERPRINT.write_text(json.dumps(kept, indent=1, sort_keys=True) + "\n")
        print(f"wrote {FINGERPRINT}")
        return 0
    found = differences(json.loads(FINGERPRINT.read_text()), quick_metrics(),
                        exact="--exact" in argv)
    print("\n".join(found) if found else "the quick run reproduces the fingerprint")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
