"""Songs -> the image-folder dataset training reads: ``out/<Genre>/<song>.jpg``, resumable.

Songs come from genre folders (``src/<Genre>/**/*.mp3``) or from a CSV of path,genre rows. Every song that
is done is appended to ``out/rendered.jsonl`` only after all its images are in place (each written
atomically), so a run that is stopped and started again renders only what is missing. Songs that cannot be
decoded are reported and skipped, and tried again by the next run.
"""

from __future__ import annotations

import csv
import json
import multiprocessing
import os
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from tqdm import tqdm

from genre_lightning.audio.rendering import Rendering, read_marker, write_marker
from genre_lightning.audio.spectrogram import AudioError
from genre_lightning.constants import AUDIO_EXTENSIONS, BUILD_LOCK, RENDER_LOG, RENDERING_MARKER
from genre_lightning.errors import UserError, input_warnings
from genre_lightning.files import files_below, hold_lock, lock_holder, write_bytes


@dataclass(frozen=True)
class Song:
    path: Path
    genre: str
    # the song's id in the log: its path relative to src where it lies inside src
    key: str
    # file name stem of its images inside out/<genre>/
    name: str = ""


@dataclass
class BuildReport:
    songs: int = 0  # songs found
    skipped: int = 0  # already rendered by an earlier run
    rendered: int = 0  # songs rendered by this run
    images: int = 0  # images written by this run
    failed: list[tuple[str, str]] = field(default_factory=list)  # (song, one-line reason)
    # (song, doubt) of songs rendered with a doubt, e.g. NaN samples read as silence
    doubtful: list[tuple[str, str]] = field(default_factory=list)


def find_songs(src, labels=None, path_column: str = "path", genre_column: str = "genre") -> list[Song]:
    """Songs from ``src/<Genre>/`` folders, or from the ``labels`` CSV (relative paths are inside ``src``)."""
    src = Path(src)
    if not src.is_dir():
        raise UserError(f"{src}: audio folder not found; pass src=<folder with one sub-folder per genre>")
    pairs = _read_labels(Path(labels), path_column, genre_column) if labels else _genre_folders(src)
    songs = [Song(src / path, genre, _key(src / path, src)) for path, genre in pairs]
    if not songs:
        raise UserError(
            f"{src}: no audio files ({', '.join(AUDIO_EXTENSIONS)}) in genre folders; "
            f"expected {src}/<Genre>/*.mp3"
        )
    return _name(songs)


def _genre_folders(src: Path) -> list[tuple[Path, str]]:
    pairs = []
    for folder in sorted(p for p in src.iterdir() if p.is_dir() and not p.name.startswith(".")):
        pairs += [(path, folder.name) for path in files_below(folder, AUDIO_EXTENSIONS)]
    return pairs


def _read_labels(labels: Path, path_column: str, genre_column: str) -> list[tuple[Path, str]]:
    if not labels.is_file():
        raise UserError(
            f"{labels}: labels CSV not found; pass labels=<CSV with {path_column},{genre_column} columns>"
        )
    with labels.open(newline="") as f:
        reader = csv.DictReader(f)
        missing = [c for c in (path_column, genre_column) if c not in (reader.fieldnames or [])]
        if missing:
            raise UserError(
                f"{labels}: no column(s) {missing} (found {reader.fieldnames}); "
                "set path_column=... genre_column=..."
            )
        pairs = []
        for line, row in enumerate(reader, start=2):
            genre = (row[genre_column] or "").strip()
            if not genre or genre.startswith(".") or "/" in genre or "\\" in genre:
                raise UserError(
                    f"{labels}:{line}: genre {genre!r} cannot be a folder name; fix or drop the row"
                )
            pairs.append((Path(row[path_column].strip()), genre))
    return pairs


def _key(path: Path, src: Path) -> str:
    try:
        return path.relative_to(src).as_posix()
    except ValueError:
        return path.as_posix()


def _name(songs: list[Song]) -> list[Song]:
    """Image names are the song's file stem, or its whole key where two songs of a genre share a stem."""
    stems = Counter((s.genre, s.path.stem) for s in songs)
    named = []
    for s in songs:
        name = (
            s.path.stem if stems[(s.genre, s.path.stem)] == 1 else s.key.replace("/", "__").replace(".", "_")
        )
        named.append(Song(s.path, s.genre, s.key, name))
    return named


def read_log(out: Path) -> set[tuple[str, str]]:
    """(key, genre) of the songs whose images are all still on disk."""
    done = set()
    try:
        lines = (out / RENDER_LOG).read_text().splitlines()
    except FileNotFoundError:
        return done
    for line in lines:
        try:
            entry = json.loads(line)
        except ValueError:  # the torn last line of an interrupted run: that song is rendered again
            continue
        if all((out / entry["genre"] / image).is_file() for image in entry["images"]):
            done.add((entry["source"], entry["genre"]))
    return done


def claim_output(out: Path, rendering: Rendering) -> IO:
    """Claim ``out`` for this rendering: refuse folders of other data or made with other settings, and lock
    it against a second build_dataset.py (returns the lock; it holds until closed or this process ends)."""
    if out.exists() and not out.is_dir():
        raise UserError(f"{out}: exists and is not a folder; choose another out=")
    if out.is_dir() and read_marker(out) is None and any(p.name != BUILD_LOCK for p in out.iterdir()):
        raise UserError(
            f"{out}: not empty and holds no {RENDERING_MARKER}; choose a new or empty out= folder"
        )
    lock = hold_lock(out / BUILD_LOCK)
    if lock is None:
        raise UserError(
            f"{out}: another build_dataset.py is writing here ({lock_holder(out / BUILD_LOCK)}); "
            "wait for it to finish, or choose another out="
        )
    existing = read_marker(out)
    if existing is None:
        write_marker(out, rendering)
    elif existing != rendering:
        lock.close()
        raise UserError(
            f"{out}: was built with other rendering settings ({_differences(existing, rendering)}); "
            "use the same settings or a new out= folder"
        )
    return lock


def _differences(old: Rendering, new: Rendering) -> str:
    def flat(r: Rendering) -> dict:
        d = r.to_dict()
        return {
            **{k: v for k, v in d.items() if k != "spec"},
            **{f"spec.{k}": v for k, v in d["spec"].items()},
        }

    before, after = flat(old), flat(new)
    return ", ".join(f"{k}: {before[k]} there, {after[k]} now" for k in before if before[k] != after[k])


def render_song(song: Song, out: Path, rendering: Rendering) -> tuple[Song, list[str] | str, list[str]]:
    """Write the song's images; returns their names, or the one-line reason it could not be read, and the
    doubts about its audio (InputWarnings)."""
    if not song.path.is_file():
        return song, f"{song.path}: file not found; fix its path or remove it", []
    reason = None
    with input_warnings() as doubts:
        try:
            images = rendering.render_file(song.path)
        except AudioError as err:
            reason = str(err)
    if reason is not None:
        return song, reason, doubts
    names = (
        [f"{song.name}.jpg"] if len(images) == 1 else [f"{song.name}-{k:03d}.jpg" for k in range(len(images))]
    )
    for name, image in zip(names, images):
        write_bytes(out / song.genre / name, image.jpeg)
    return song, names, doubts


def _render_star(args):
    return render_song(*args)


def build_dataset(songs: list[Song], out, rendering: Rendering, workers: int = 0) -> BuildReport:
    """Render every song not yet done into ``out``; ``workers`` > 0 renders in that many processes."""
    out = Path(out)
    lock = claim_output(out, rendering)
    done = read_log(out)
    todo = [s for s in songs if (s.key, s.genre) not in done]
    report = BuildReport(songs=len(songs), skipped=len(songs) - len(todo))
    with (
        lock,
        (out / RENDER_LOG).open("a") as log,
        tqdm(total=len(todo), unit="song", disable=None, desc=str(out)) as bar,
    ):
        for song, result, doubts in _results(todo, out, rendering, workers):
            for doubt in doubts:
                report.doubtful.append((song.key, doubt))
                bar.write(f"warning: {song.path}: {doubt}", file=sys.stderr)
            if isinstance(result, str):
                report.failed.append((song.key, result))
                bar.write(f"skipped: {result}", file=sys.stderr)
            else:
                # after the images: a line in the log is the promise that the song is complete
                log.write(json.dumps({"source": song.key, "genre": song.genre, "images": result}) + "\n")
                log.flush()
                report.rendered += 1
                report.images += len(result)
            bar.update()
    return report


def _results(
    todo: list[Song], out: Path, rendering: Rendering, workers: int
) -> Iterator[tuple[Song, list[str] | str, list[str]]]:
    if workers <= 0 or len(todo) < 2:
        yield from (render_song(song, out, rendering) for song in todo)
        return
    with multiprocessing.Pool(min(workers, len(todo))) as pool:
        yield from pool.imap_unordered(_render_star, [(song, out, rendering) for song in todo], chunksize=1)


def format_report(report: BuildReport, out: str | os.PathLike) -> str:
    lines = [
        f"{out}: {report.rendered} songs rendered into {report.images} images, "
        f"{report.skipped} already done, {len(report.failed)} failed (of {report.songs})"
    ]
    lines += [f"  failed: {reason}" for _, reason in report.failed]
    lines += [f"  warning: {song}: {doubt}" for song, doubt in report.doubtful]
    return "\n".join(lines)
