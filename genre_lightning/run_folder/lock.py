"""The training process's lock on its run folder, claimed before anything is written into it.

A fresh run creates ``run.lock`` exclusively (so a folder that ever held a run is never reused) and locks
it while it runs (so a resume waits for no one and two resumes cannot meet); the file names the process.
The Hydra callback that claims each run's folder before Hydra writes there is training/callbacks/hydra.py's.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from genre_lightning.errors import UserError
from genre_lightning.files import hold_lock, lock_holder
from genre_lightning.run_folder.layout import HYDRA_DIR, RUN_CONFIG, RUN_LOCK, RunFolder

# the run folders this process has claimed, with their held locks (released when the process ends)
_held: dict[Path, IO] = {}

# all that a start leaves before the run writes anything of its own (its split.json first): the lock, its
# config (as Hydra's .hydra/ and as run_config.json) and log; a folder holding no more is no run, and may
# be claimed again
STARTED_ONLY = {RUN_LOCK, RUN_CONFIG, "train.log", HYDRA_DIR}


def _holds_no_run(run_dir: Path) -> bool:
    return {entry.name for entry in run_dir.iterdir()} <= STARTED_ONLY


def claim(run_dir: str | os.PathLike, resume: bool) -> None:
    """Make this process the one writing into ``run_dir`` until release(): a fresh run needs a folder that
    never held a run, a resume one that no process is running in. Claiming a folder this process holds
    (the Hydra callback claimed it for this run) is a no-op."""
    run_dir = Path(os.path.abspath(run_dir))
    if run_dir in _held:
        return
    run = RunFolder(run_dir)
    lock_path = run.lock
    if not resume:
        try:
            if run.split.exists():  # a run from before run.lock existed
                raise FileExistsError
            run_dir.mkdir(parents=True, exist_ok=True)
            os.close(os.open(lock_path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
        except FileExistsError:
            if _holds_no_run(run_dir):  # a start that failed (or was killed) before writing anything
                return _hold(run_dir, lock_path)
            raise UserError(
                f"{run_dir}: already holds a run ({lock_holder(lock_path)}); choose a new hydra.run.dir, or "
                f"finish that run with python train.py resume={run_dir}"
            ) from None
    _hold(run_dir, lock_path)


def _hold(run_dir: Path, lock_path: Path) -> None:
    lock = hold_lock(lock_path)
    if lock is None:
        raise UserError(
            f"{run_dir}: a training process is running there ({lock_holder(lock_path)}); "
            "wait for it to end, or stop it first"
        )
    _held[run_dir] = lock


def release(run_dir: str | os.PathLike) -> None:
    lock = _held.pop(Path(os.path.abspath(run_dir)), None)
    if lock is not None:
        lock.close()


@contextlib.contextmanager
def claimed(run_dir: Path, resume: bool, writer: bool) -> Iterator[None]:
    """The run folder claimed for the block, by the process that writes files (DDP's rank 0)."""
    if not writer:
        yield
        return
    claim(run_dir, resume)
    try:
        yield
    except BaseException:
        # a fresh run stopped before it wrote anything (a value only the data could refute, Ctrl-C during
        # the scan): leave no folder behind
        if not resume and _holds_no_run(run_dir):
            shutil.rmtree(run_dir, ignore_errors=True)
        raise
    finally:
        release(run_dir)
