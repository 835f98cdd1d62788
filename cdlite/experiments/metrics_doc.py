"""docs/metrics.md, written from the one definition of metrics.json and sweep.csv
(cdlite.experiments.schema) and the registry of quality scores:

    python -m cdlite.experiments.metrics_doc > docs/metrics.md
"""
from __future__ import annotations

from ..metrics.scores import SCORES
from .schema import (CURVE_POINT, GROWTH, PIPELINE, QUALITY, REFERENCE, RF_THEORY, ROW,
                     SWEEP_CSV, TRANSFER, TRANSFER_TEACHER, Record)


def _table(record: Record) -> list[str]:
    def kind(k):
        return (f"list of {k[0].name}s" if isinstance(k, list) else
                f"{k.name} (below)" if isinstance(k, Record) else k)
    rows = [f"| `{f.key}` | {kind(f.kind)} | {f.when} | {f.meaning} |" for f in record.fields]
    extra = [f"| (others) | number | | {record.open_keys} |"] if record.open_keys else []
    return ["| key | type | present | meaning |", "|---|---|---|---|"] + rows + extra


def markdown() -> str:
    """docs/metrics.md, written from the definitions above and the registry of scores."""
    out = ["# What a run writes: metrics.json and sweep.csv", "",
           "Generated from `cdlite/experiments/schema.py` (`python -m "
           "cdlite.experiments.metrics_doc > docs/metrics.md`); tests check every recipe's "
           "metrics.json against it. "
           "\"always\" means: in every complete run of the recipe.", ""]
    for title, record in (("metrics.json of the pipeline recipes", PIPELINE),
                          ("reference", REFERENCE),
                          ("A row (one model's samples, or a reference)", ROW),
                          ("quality", QUALITY), ("A curve point", CURVE_POINT),
                          ("transfer (one student against Phi_teacher, per latent)", TRANSFER),
                          ("transfer_teacher", TRANSFER_TEACHER),
                          ("growth (student_growth)", GROWTH),
                          ("metrics.json of rf-theory", RF_THEORY)):
        out += [f"## {title}", ""] + _table(record) + [""]
    out += ["## The quality scores (cdlite.metrics.scores)", "",
            "A new score is one function plus one `register(Score(...))` row.", "",
            "| key | better | column | data | on curves | frontier | meaning |",
            "|---|---|---|---|---|---|---|"]
    out += [f"| `{s.key}` | {'higher' if s.direction > 0 else 'lower'} | {s.column} | {s.data} "
            f"| {'yes' if s.on_curve else 'no'} | {'yes' if s.frontier else 'no'} | {s.label} |"
            for s in SCORES.values()]
    out += ["", "## sweep.csv (one row per finished cell)", "", "| column | type | meaning |",
            "|---|---|---|"] + [f"| `{c}` | {k} | {m} |" for c, k, m in SWEEP_CSV]
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    print(markdown(), end="")
