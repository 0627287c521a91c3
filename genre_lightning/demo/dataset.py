"""The synthetic demo dataset on disk: clips from the synthesiser, rendered as the real data, written
atomically.

    python -m genre_lightning.demo.dataset --out data/demo

`experiment=demo` makes it through `data.prepare` (configs/experiment/demo.yaml) when `data.root` is missing.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np
import soundfile as sf

from genre_lightning.audio.rendering import DEMO_JPEG_QUALITY, Rendering
from genre_lightning.audio.spectrogram import SpectrogramSpec
from genre_lightning.constants import DEMO_MARKER as MARKER
from genre_lightning.demo.synth import GENERATOR_VERSION, GENRES, synthesize

log = logging.getLogger(__name__)


def _params(per_class, seconds, seed, spec) -> dict:
    return {
        "generator": GENERATOR_VERSION,
        "per_class": per_class,
        "seconds": seconds,
        "seed": seed,
        "spec": spec.to_dict(),
    }


def _marker_matches(folder: Path, params: dict) -> bool:
    try:
        return json.loads((folder / MARKER).read_text()) == params
    except (OSError, ValueError):
        return False


def _refuse_foreign(folder: Path) -> None:
    if folder.exists() and not folder.is_dir():
        raise ValueError(f"{folder}: exists and is not a folder; choose another path for the demo dataset")
    if folder.is_dir() and not (folder / MARKER).exists() and any(folder.iterdir()):
        raise ValueError(
            f"{folder}: refusing to write demo data into what looks like a real data folder "
            f"(non-empty, no {MARKER}); choose another path"
        )


def _swap_in(built: Path, target: Path, params: dict) -> None:
    """Move a finished build to ``target``; a half-written dataset is never visible under ``target``."""
    old = None
    if target.is_dir() and any(target.iterdir()):
        old = target.with_name(f".{target.name}.old-{uuid.uuid4().hex}")
        os.replace(target, old)
    try:
        os.replace(built, target)
    except OSError:
        # A concurrent build with the same parameters got there first; its result is as good as ours.
        if not _marker_matches(target, params):
            raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def make_demo_dataset(
    root,
    per_class: int = 40,
    seconds: float = 6.0,
    seed: int = 0,
    spec: SpectrogramSpec | None = None,
    audio_dir=None,
) -> Path:
    """Build (or reuse) ``root/<Genre>/<genre>_<i>.jpg`` demo spectrograms, optionally with wavs in
    ``audio_dir``; ``spec`` defaults to ``SpectrogramSpec(width=336, height=250)``.

    Reuses a folder whose marker records the same parameters, rebuilds one with other parameters, and refuses
    to touch a non-empty folder that has no marker, because that is probably someone's real data.
    """
    if spec is None:
        spec = SpectrogramSpec(width=336, height=250)
    if per_class < 1 or seconds <= 0 or seed < 0:
        raise ValueError(
            f"need per_class >= 1, seconds > 0 and seed >= 0, got {per_class}, {seconds}, {seed}"
        )
    root = Path(root)
    targets = [root] if audio_dir is None else [root, Path(audio_dir)]
    params = _params(int(per_class), float(seconds), int(seed), spec)
    for target in targets:
        _refuse_foreign(target)
    if all(_marker_matches(target, params) for target in targets):
        return root

    # synthesising and rendering every song takes a while: say why the first run waits
    log.info(
        "making the demo data set under %s: %d genres x %d synthetic songs of %g s (once)",
        root,
        len(GENRES),
        per_class,
        seconds,
    )
    started = time.perf_counter()
    rendering = Rendering(spec, jpeg_quality=DEMO_JPEG_QUALITY)
    builds = []
    try:
        for target in targets:
            target.parent.mkdir(parents=True, exist_ok=True)
            builds.append(Path(tempfile.mkdtemp(prefix=f".{target.name}.building-", dir=target.parent)))
        for g, genre in enumerate(GENRES):
            for build in builds:
                (build / genre).mkdir()
            for i in range(per_class):
                rng = np.random.default_rng(np.random.SeedSequence([seed, g, i]))
                audio = synthesize(genre, rng, seconds, spec.sample_rate)
                name = f"{genre.lower()}_{i:04d}"
                (builds[0] / genre / f"{name}.jpg").write_bytes(rendering.encode(audio))
                if audio_dir is not None:
                    sf.write(builds[1] / genre / f"{name}.wav", audio, spec.sample_rate, subtype="PCM_16")
        for build in builds:
            # Written last: its presence is what says the folder is complete.
            (build / MARKER).write_text(json.dumps(params, indent=2, sort_keys=True) + "\n")
        for build, target in zip(builds, targets):
            _swap_in(build, target, params)
    finally:
        for build in builds:
            shutil.rmtree(build, ignore_errors=True)
    log.info("demo data set made in %.0f s", time.perf_counter() - started)
    return root


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m genre_lightning.demo.dataset",
        description="Write the synthetic seven-genre demo dataset of spectrogram images.",
    )
    parser.add_argument(
        "--out", type=Path, default=Path("data/demo"), help="dataset folder (default: data/demo)"
    )
    parser.add_argument("--per-class", type=int, default=40, help="images per genre (default: 40)")
    parser.add_argument(
        "--seconds", type=float, default=6.0, help="length of each synthetic clip (default: 6)"
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    parser.add_argument(
        "--audio-dir", type=Path, default=None, help="also write each clip as a wav under this folder"
    )
    args = parser.parse_args(argv)
    try:
        root = make_demo_dataset(args.out, args.per_class, args.seconds, args.seed, audio_dir=args.audio_dir)
    except ValueError as e:
        parser.exit(2, f"error: {e}\n")
    print(f"demo dataset: {root} ({len(GENRES)} genres x {args.per_class} images)")


if __name__ == "__main__":
    main()
