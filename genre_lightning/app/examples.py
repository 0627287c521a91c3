"""The page's examples row: a few songs from the demo synthesiser and spectrogram images rendered from its
clips the way the model's images were, made fresh at start-up (no files to ship or download)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import soundfile as sf

from genre_lightning.audio.rendering import PUBLISHED_WINDOW_SECONDS, Rendering
from genre_lightning.demo.synth import synthesize
from genre_lightning.files import atomic_path, write_bytes

# name -> the genres the song plays in turn, and seconds of each; the medley shows a genre change
SONGS = {
    "medley-classical-rock-electronic.flac": (("Classical", "Rock", "Electronic"), 12.0),
    "hip-hop.flac": (("Hip-Hop",), 30.0),
    "folk.flac": (("Folk",), 30.0),
}
# spectrogram images: one window each (a whole-song rendering gets the published data's 30 s)
IMAGES = {"punk.jpg": "Punk", "pop.jpg": "Pop"}


def clip(genre: str, seconds: float, sample_rate: int, seed: int) -> np.ndarray:
    return synthesize(genre, np.random.default_rng(seed), seconds, sample_rate)


def make_examples(folder: str | os.PathLike, rendering: Rendering) -> list[Path]:
    """Write the example songs and images into ``folder``; returns their paths, songs first."""
    folder, rate = Path(folder), rendering.spec.sample_rate
    paths = []
    for seed, (name, (genres, seconds)) in enumerate(SONGS.items()):
        audio = np.concatenate([clip(genre, seconds, rate, seed) for genre in genres])
        with atomic_path(folder / name) as tmp:
            sf.write(tmp, audio, rate, format="FLAC")
        paths.append(folder / name)
    for seed, (name, genre) in enumerate(IMAGES.items(), start=len(SONGS)):
        audio = clip(genre, rendering.window_seconds or PUBLISHED_WINDOW_SECONDS, rate, seed)
        paths.append(write_bytes(folder / name, rendering.encode(audio)))
    return paths
