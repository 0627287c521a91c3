"""Atomic file writes (a reader never sees half a file, and a crash leaves the old one intact),
exclusive locks on folders that two processes must not write at once, and the input files below a folder."""

from __future__ import annotations

import contextlib
import datetime
import fcntl
import json
import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import IO


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, exclusive: bool = False) -> Iterator[Path]:
    """A temporary path beside ``path`` to write to; it replaces ``path`` only if the block succeeds. With
    ``exclusive`` it takes the name only where no file has it (FileExistsError otherwise), in one step:
    of two processes writing one new file, the second gets the error and the first's file stays whole."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # A fresh name rather than mkstemp: the file gets the user's umask permissions, not 0600.
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        yield tmp
        if exclusive:
            _link_new(tmp, path)
        else:
            os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _link_new(tmp: Path, path: Path) -> None:
    """``tmp`` under the new name ``path``: a hard link, which fails where the name exists (an existence check
    before a rename would leave a moment in which two writers both find the name free)."""
    try:
        os.link(tmp, path)
    except FileExistsError:
        raise
    except OSError:  # a file system without hard links: claim the name by creating it, then fill it
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
        os.replace(tmp, path)


def write_bytes(path: str | os.PathLike, data: bytes, exclusive: bool = False) -> Path:
    with atomic_path(path, exclusive) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def write_text(path: str | os.PathLike, text: str, exclusive: bool = False) -> Path:
    return write_bytes(path, text.encode(), exclusive)


def write_json(path: str | os.PathLike, payload, exclusive: bool = False) -> Path:
    return write_text(path, json.dumps(payload, indent=2) + "\n", exclusive)


def hold_lock(path: str | os.PathLike) -> IO | None:
    """Lock the file ``path`` (made if missing) while the returned handle stays open, at most until this
    process ends, however it ends (kill -9 included); the file names the holder. None when another
    process holds it: ``lock_holder(path)`` says which."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = open(path, "a+")  # noqa: SIM115 (the open handle is the lock, returned to the caller)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        return None
    handle.seek(0)
    handle.truncate()
    started = datetime.datetime.now().isoformat(sep=" ", timespec="seconds")
    handle.write(f"pid {os.getpid()} on {socket.gethostname()}, started {started}\n")
    handle.flush()
    return handle


def lock_holder(path: str | os.PathLike) -> str:
    """Who holds, or last held, the lock file ``path``."""
    try:
        return Path(path).read_text().strip() or "a process that is starting"
    except OSError:
        return "an unknown process"


def files_below(folder: str | os.PathLike, extensions: tuple[str, ...]) -> list[Path]:
    """Every file below ``folder``, sub-folders included, whose suffix is one of ``extensions`` (any case),
    sorted; hidden ones, and all in hidden folders (a .cache, .git), are left out."""
    folder = Path(folder)
    return sorted(
        p
        for p in folder.rglob("*")
        if p.suffix.lower() in extensions
        and p.is_file()
        and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    )
