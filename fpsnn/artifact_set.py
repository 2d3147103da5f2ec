"""A deploy's files as one set: the artifacts a vendor tool loads and the ``report.json`` that describes them.

:func:`check_out_dir` says, before anything runs, whether ``--out`` can become the folder (nothing is
created); :func:`write_set` writes every file into a temporary folder next to it and then moves them
in, the report last, and removes what an earlier deploy into the same folder wrote that this one does
not. A deploy that fails therefore never leaves new artifacts next to an old report.
"""
from __future__ import annotations

import json
from pathlib import Path

from .io import json_default, write_atomic

__all__ = ["check_out_dir", "write_set"]


def check_out_dir(out_dir) -> Path:
    """``out_dir`` as a Path that can become a folder of artifacts (nothing is created yet); ValueError
    naming ``--out`` when it is empty, an existing file, lies under a file or cannot be written."""
    import os

    if out_dir is None or str(out_dir).strip() == "":
        raise ValueError("--out: empty path; name a folder for the artifacts")
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out}: exists and is a file, not a folder")
    probe = out
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir():
        raise ValueError(f"--out {out}: {probe} is a file, not a folder")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise ValueError(f"--out {out}: {probe} is not writable (permission denied)")
    return out


def write_set(out: Path, write_artifacts, report: dict) -> list:
    """Write the artifacts and ``report.json`` into a temporary folder next to ``out``, then move them in
    (the report last); an earlier deploy's artifacts that this one does not write are removed. Returns
    the final paths (the report's ``artifacts``, ``report.json`` last)."""
    import os
    import shutil
    import tempfile

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    try:
        names = [Path(p).relative_to(tmp) for p in write_artifacts(tmp)]
        report["artifacts"] = [str(out / n) for n in names]
        final = report["artifacts"] + [str(out / "report.json")]
        write_atomic(tmp / "report.json", json.dumps(report, indent=1, default=json_default).encode())
        if not out.exists():
            os.rename(tmp, out)   # one rename: the whole set appears at once
            return final
        old = _previous_artifacts(out)
        for n in names + [Path("report.json")]:
            (out / n).parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp / n, out / n)
        for stale in old - {str(out / n) for n in names}:
            Path(stale).unlink(missing_ok=True)
        return final
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _previous_artifacts(out: Path) -> set:
    """Artifact paths listed by an earlier ``report.json`` in ``out`` (only those inside ``out``)."""
    try:
        listed = json.loads((out / "report.json").read_text()).get("artifacts", [])
    except (OSError, ValueError, AttributeError):
        return set()
    inside = set()
    for p in listed:
        q = Path(p)
        if q.name != "report.json" and q.resolve().parent == out.resolve():
            inside.add(str(out / q.name))
    return inside
