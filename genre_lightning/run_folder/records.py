"""What the training loop keeps in its run folder and a resume checks against it: the split every fold is
drawn from (and the files it came from), which way the images reached the model, the bad images and
duplicates the scan found, the fingerprints eval.py compares with, and the checkpoint a stopped fold
continues from.
"""

from __future__ import annotations

import json
import logging
import zipfile
from pathlib import Path

from genre_lightning.data import duplicates
from genre_lightning.data.drawing import Drawn
from genre_lightning.data.scan import format_bad_files
from genre_lightning.errors import UserError
from genre_lightning.files import write_json, write_text
from genre_lightning.run_folder.layout import RunFolder

log = logging.getLogger(__name__)


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


def check_sources(run: RunFolder, now) -> None:
    """On resume: refuse a split or groups file (data.split, data.groups) changed since the run started, by
    the sha256 its split.json recorded; ``now`` computes the files' sources today (drawing.split_sources)."""
    saved = read_split(run.split).get("source", {}) if run.split.is_file() else {}
    if not saved:
        return
    try:
        current = now()
    except OSError as err:
        raise UserError(f"{run.split}: a file the split came from is missing ({err}); restore it") from None
    for key, entry in saved.items():
        if current.get(key, {}).get("sha256") != entry["sha256"]:
            raise UserError(
                f"data.{key}={entry['file']}: changed since the run started (sha256 {entry['sha256'][:12]} "
                f"recorded in {run.split.name}); restore the file, or start a new run"
            )


def write_duplicates(run: RunFolder, drawn: Drawn) -> Path:
    text = duplicates.format_groups(drawn.duplicates, drawn.genre_of, drawn.left_out)
    return write_text(run.duplicates, text)


def write_image_hashes(run: RunFolder, split: dict, records: dict[str, dict]) -> Path:
    """The fingerprints of the images the folds train and validate on (not the test set's), for eval.py."""
    trained = [path for part in [*split["folds"], split.get("train", [])] for path, _ in part]
    images = {path: {key: records[path][key] for key in ("pixels", "thumbnail")} for path in trained}
    return write_json(run.image_hashes, {"near_rms": duplicates.NEAR_RMS, "images": images})


def read_split(path: Path) -> dict:
    """A run's split.json, checked to be plain data of the shape train.py writes (Split.to_dict, and the
    files it came from under "source")."""

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
            and pairs(split.get("train", []))
            and isinstance(split.get("source", {}), dict)
            and all(
                isinstance(entry, dict) and isinstance(entry.get("sha256"), str)
                for entry in split.get("source", {}).values()
            )
        )
    except (OSError, ValueError):
        ok = False
    if not ok:
        raise UserError(f"{path}: not a split written by train.py; restore the run's own split.json")
    return split


def _files(split: dict) -> set[str]:
    return {path for part in [split["test"], split.get("train", []), *split["folds"]] for path, _ in part}


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
