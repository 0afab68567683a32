"""Writing files so that a crash never leaves half of one where a reader (or a resumed
stage) would take it for whole; finding and reading a run's outputs."""

from __future__ import annotations

import json
import os
import shutil
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def replaced_atomically(path: str | Path):
    """Yields a temporary sibling of ``path`` to write (a file or a folder); when the block
    succeeds it replaces ``path`` in one rename, otherwise it is removed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # hidden (folder readers skip dot-names) and per process (two writers never share it)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    _remove(tmp)
    try:
        yield tmp
    except BaseException:
        _remove(tmp)
        raise
    if path.is_dir() and tmp.is_dir():
        shutil.rmtree(path)
    tmp.replace(path)


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


def write_text_atomically(path: str | Path, text: str) -> None:
    with replaced_atomically(path) as tmp:
        tmp.write_text(text)


def fingerprint(path: str | Path) -> list:
    """Name (below the path's parent), size and mtime of the file, or of every file under the
    folder: a file rewritten in place changes it; a folder moved elsewhere does not."""
    path = Path(path)
    files = sorted(p for p in ([path] if path.is_file() else path.rglob("*")) if p.is_file())
    return [[str(p.relative_to(path.parent)), p.stat().st_size, p.stat().st_mtime_ns] for p in files]


NOT_RUN_OUTPUT = ("ray", "mlartifacts")
"""Folders inside a run folder that hold copies, not the run's own outputs: Ray Train's
storage (checkpoints) and MLflow's artifact store."""


def run_outputs(folder: str | Path, name: str) -> list[Path]:
    """Files called ``name`` under ``folder``, outside hidden folders (writes in progress) and
    the folders of copies (``NOT_RUN_OUTPUT``)."""
    folder = Path(folder)
    return sorted(p for p in folder.rglob(name)
                  if not any(part.startswith(".") or part in NOT_RUN_OUTPUT for part in p.relative_to(folder).parts[:-1]))


def read_jsonl(path: str | Path) -> list:
    """The rows of a JSON-lines file (a train run's ``metrics.jsonl``), blank lines skipped."""
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]
