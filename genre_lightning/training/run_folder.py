"""The training process's hold on its run folder (whose layout run_layout.py knows): claimed before anything
is written into it, then the split every fold is drawn from, the bad images the scan found, and the
checkpoint a stopped fold continues from.

A fresh run creates ``run.lock`` exclusively (so a folder that ever held a run is never reused) and locks
it while it runs (so a resume waits for no one and two resumes cannot meet); the file names the process.
The Hydra callback that claims each run's folder before Hydra writes there is callbacks/hydra.py's.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from genre_lightning.constants import RUN_LOCK
from genre_lightning.data.scan import format_bad_files
from genre_lightning.errors import UserError
from genre_lightning.files import hold_lock, lock_holder, write_json, write_text
from genre_lightning.run_layout import HYDRA_DIR, RUN_CONFIG, RunFolder

log = logging.getLogger(__name__)

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
    (the Hydra callback below claimed it for this run) is a no-op."""
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


def keep_split(run: RunFolder, split: dict, resume: bool) -> None:
    """Write split.json; when resuming, insist instead that the data still gives the run's split."""
    path = run.split
    if not (resume and path.is_file()):
        write_json(path, split)
        return
    saved, now = read_split(path), json.loads(json.dumps(split))
    if saved != now:
        gone, new = sorted(_files(saved) - _files(now)), sorted(_files(now) - _files(saved))
        example = f", e.g. {(gone or new)[0]}" if gone or new else ""
        raise UserError(
            f"{path}: the data no longer gives this run's split ({len(gone)} image(s) gone, {len(new)} new"
            f"{example}); resume with the same images, from the folder the run was started in"
        )


def read_split(path: Path) -> dict:
    """A run's split.json, checked to be plain data of the shape train.py writes (Split.to_dict)."""

    def pairs(part) -> bool:  # [[file, label], ...]
        return isinstance(part, list) and all(
            isinstance(p, list) and len(p) == 2 and isinstance(p[0], str) and type(p[1]) is int for p in part
        )

    try:
        split = json.loads(path.read_text())
        ok = (
            isinstance(split, dict)
            and isinstance(split.get("classes"), list)
            and all(isinstance(name, str) for name in split["classes"])
            and pairs(split.get("test"))
            and isinstance(split.get("folds"), list)
            and all(pairs(fold) for fold in split["folds"])
        )
    except (OSError, ValueError):
        ok = False
    if not ok:
        raise UserError(f"{path}: not a split written by train.py; restore the run's own split.json")
    return split


def _files(split: dict) -> set[str]:
    return {path for part in [split["test"], *split["folds"]] for path, _ in part}


def keep_data_path(run: RunFolder, datamodule, trainer, resume: bool, writer: bool) -> None:
    """Decide (once per run) whether the images stay decoded on the training device, and record it in
    data_path.json: data.resident=auto chooses by the free memory, and the two paths draw different crops,
    so a resume takes the path the run started on (or stops, saying so, where it no longer fits)."""
    path = run.data_path
    if resume and path.is_file():
        try:
            recorded = json.loads(path.read_text()).get("resident")
        except (OSError, ValueError, AttributeError):
            recorded = None
        if not isinstance(recorded, bool):
            raise UserError(f"{path}: not written by train.py; restore the run's own {path.name}")
        datamodule.kept_resident = recorded
    resident = datamodule.use_resident(trainer.strategy.root_device, trainer.world_size)
    if writer and not path.is_file():
        write_json(path, {"resident": resident})


def write_bad_files(run: RunFolder, files: list[tuple[str, str]]) -> Path:
    return write_text(run.bad_files, format_bad_files(files))


def last_checkpoint(run: RunFolder, fold: int) -> Path | None:
    """The checkpoint written at the end of the fold's latest epoch, if it got that far and can be read.
    Otherwise the fold starts over, and the checkpoints of its stopped attempt go (Lightning would keep the
    new best beside them as best-v1.ckpt)."""
    path = run.last(fold)
    if path.is_file() and _complete(path):
        return path
    if path.is_file():
        log.warning("fold %d: %s is damaged (cut short); training the fold again from its start", fold, path)
    for stale in run.checkpoint_dir(fold).glob("*.ckpt"):
        stale.unlink(missing_ok=True)  # under DDP every process looks
    return None


def _complete(path: Path) -> bool:
    """Whether the checkpoint file is whole: torch.save writes a zip archive, whose index comes last and
    whose members carry checksums."""
    try:
        with zipfile.ZipFile(path) as archive:
            return archive.testzip() is None
    except (zipfile.BadZipFile, OSError):
        return False
