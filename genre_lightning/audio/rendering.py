"""Audio files -> the JPEG spectrograms a model trains on, and the marker that records how they were made.

Dataset building and prediction on audio both go through :meth:`Rendering.render`, and prediction
decodes its JPEGs with :func:`genre_lightning.data.images.load_image` exactly as training decodes the
files, so a song predicted from audio gives the same pixels as the image the dataset builder wrote for it.
"""

from __future__ import annotations

import io
import json
import os
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from genre_lightning.audio.spectrogram import (
    SpectrogramSpec,
    audio_rate,
    check_keys,
    load_audio,
    render,
    window_spans,
)
from genre_lightning.constants import DEMO_MARKER, RENDERING_MARKER
from genre_lightning.errors import UserError
from genre_lightning.files import write_json

# The published data's JPEGs carry libjpeg's quality-75 quantisation tables (PIL's default).
PUBLISHED_JPEG_QUALITY = 75
# One image per 30 s clip, as in the published data (FMA previews).
PUBLISHED_WINDOW_SECONDS = 30.0
# What demo.dataset.make_demo_dataset saves its images with (its marker does not record it).
DEMO_JPEG_QUALITY = 90
# Prediction doubts a song shorter than this share of a window (a clip a little short of 30 s is normal)...
SHORT_WINDOW_SHARE = 0.9
# ...or quieter than this RMS level in dB below full scale: silence to the ear.
SILENCE_DBFS = -60.0


@dataclass(frozen=True)
class SongWindow:
    """One image of a song: the JPEG and where its audio starts and ends in the song, in seconds."""

    start: float
    end: float
    jpeg: bytes


@dataclass(frozen=True)
class Rendering:
    """How a song becomes images: the spectrogram, the window cut from the audio per image, the JPEG
    quality."""

    spec: SpectrogramSpec = field(default_factory=SpectrogramSpec)
    # None: the whole file is one image
    window_seconds: float | None = PUBLISHED_WINDOW_SECONDS
    # None: windows back to back
    hop_seconds: float | None = None
    jpeg_quality: int = PUBLISHED_JPEG_QUALITY

    def __post_init__(self) -> None:
        if self.window_seconds is not None and self.window_seconds <= 0:
            raise ValueError(
                f"window_seconds must be positive or null (whole file), got {self.window_seconds}"
            )
        if self.hop_seconds is not None and self.hop_seconds <= 0:
            raise ValueError(
                f"hop_seconds must be positive or null (= window_seconds), got {self.hop_seconds}"
            )
        if not 1 <= self.jpeg_quality <= 95:
            raise ValueError(f"jpeg_quality must be in 1..95, got {self.jpeg_quality}")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> Rendering:
        check_keys(cls, d, "rendering")
        return cls(**{**d, "spec": SpectrogramSpec.from_dict(d.get("spec", {}))})

    def render_file(self, path: str | os.PathLike) -> list[SongWindow]:
        """One JPEG per window of the audio file; raises AudioError for a file that cannot be decoded."""
        rendering = self.for_file(path)
        return rendering.render(rendering.load(path))

    def for_file(self, path: str | os.PathLike) -> Rendering:
        """How to render this audio file: itself, or with spec.native_rate itself at the file's own sample
        rate (read from its header); AudioError if the file is not audio."""
        if not self.spec.native_rate:
            return self
        return replace(self, spec=self.spec.at_rate(audio_rate(path)))

    def load(self, path: str | os.PathLike) -> np.ndarray:
        """The audio file as mono samples at the spectrogram's rate; AudioError if it cannot be decoded."""
        return load_audio(path, self.spec.sample_rate)

    def render(self, audio: np.ndarray) -> list[SongWindow]:
        """One JPEG per window of mono audio at the spectrogram's rate."""
        rate = self.spec.sample_rate
        return [
            SongWindow(start / rate, end / rate, self.encode(audio[start:end]))
            for start, end in window_spans(len(audio), rate, self.window_seconds, self.hop_seconds)
        ]

    def doubts(self, audio: np.ndarray) -> list[str]:
        """What makes images of this audio unlike full windows of music: audio much shorter than a window
        (its spectrogram is stretched to the window's width) or silence (its noise floor is stretched to the
        full colour range)."""
        doubts = []
        seconds = len(audio) / self.spec.sample_rate
        if self.window_seconds is not None and seconds < SHORT_WINDOW_SHARE * self.window_seconds:
            doubts.append(
                f"{seconds:.1f} s of audio, shorter than the model's {self.window_seconds:g} s window "
                "(its spectrogram is stretched)"
            )
        if np.sqrt(np.mean(np.square(audio, dtype=np.float64))) < 10 ** (SILENCE_DBFS / 20):
            doubts.append(f"silent (RMS level under {SILENCE_DBFS:g} dBFS)")
        return doubts

    def encode(self, audio) -> bytes:
        buffer = io.BytesIO()
        render(audio, self.spec).save(buffer, format="JPEG", quality=self.jpeg_quality)
        return buffer.getvalue()


def write_marker(root: str | os.PathLike, rendering: Rendering) -> Path:
    return write_json(Path(root) / RENDERING_MARKER, rendering.to_dict())


def read_marker(root: str | os.PathLike) -> Rendering | None:
    """How the images under ``root`` were rendered, from its marker or the demo set's; None if unknown."""
    root = Path(root)
    for name in (RENDERING_MARKER, DEMO_MARKER):
        path = root / name
        if not path.is_file():
            continue
        try:
            d = json.loads(path.read_text())
            if name == RENDERING_MARKER:
                return Rendering.from_dict(d)
            seconds = d["seconds"]
            if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
                raise TypeError(f"seconds must be a number, got {seconds!r}")
            return Rendering(SpectrogramSpec.from_dict(d["spec"]), float(seconds), None, DEMO_JPEG_QUALITY)
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise UserError(
                f"{path}: unreadable rendering marker ({err}); rebuild the dataset or delete the file"
            ) from None
    return None
