"""The files a run's finished stages leave (samples.npz, checkpoints/*.npz), and their records
in metrics.json ("files": path -> {bytes, sha256, stage}): a resumed run trusts a finished stage
only if its files are there and whole; a missing or changed one makes that stage, and every
later one, run again (cdlite.runs.folder calls these as stages end and as a run is reopened)."""
from __future__ import annotations

import contextlib
import hashlib
import os
from pathlib import Path


def stage_files(path: Path) -> list[str]:
    """samples.npz and checkpoints/*.npz of a run folder, as relative paths."""
    found = ["samples.npz"] if (path / "samples.npz").is_file() else []
    return found + sorted(f"checkpoints/{p.name}" for p in (path / "checkpoints").glob("*.npz"))


def file_record(path: Path) -> dict:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return {"bytes": path.stat().st_size, "sha256": digest.hexdigest()}


def file_problem(path: Path, record: dict) -> str | None:
    """What is wrong with `path` against its record {bytes, sha256} (None when nothing)."""
    if not path.is_file():
        return "is missing"
    if path.stat().st_size != record.get("bytes"):
        return (f"has {path.stat().st_size:,} bytes, not the {record.get('bytes')} it was "
                "written with")
    if file_record(path)["sha256"] != record.get("sha256"):
        return "was changed after it was written (its SHA-256 differs)"
    return None


def undo_stages_with_bad_files(path: Path, metrics: dict, log) -> None:
    """A finished stage counts only if its files are whole: the first stage with a missing or
    changed file, and every later one, are taken out of stages_done, and their files removed
    (they are written again when the stages run again)."""
    files = metrics.get("files")
    done = metrics.get("stages_done")
    if not isinstance(files, dict) or not isinstance(done, list):
        return
    bad = {}
    for rel, record in files.items():
        why = file_problem(path / rel, record) if isinstance(record, dict) else "is damaged"
        if why:
            bad[rel] = why
    stages = [files[rel].get("stage") if isinstance(files[rel], dict) else None for rel in bad]
    first = min((done.index(s) for s in stages if s in done), default=0 if bad else None)
    if first is None:
        return
    undone = done[first:]
    rel, why = next(iter(bad.items()))
    log(f"{path / rel} {why}: the stages from {undone[0] if undone else 'the start'} run again")
    metrics["stages_done"] = done[:first]
    for rel in list(files):
        record = files[rel]
        if rel in bad or not isinstance(record, dict) or record.get("stage") in undone:
            with contextlib.suppress(OSError):
                os.remove(path / rel)
            del files[rel]
