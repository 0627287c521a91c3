"""Where a model input's rows and columns lie in the music: frequency bands (Hz through the rendering the
checkpoint records, else image rows) and time segments (seconds where the window's length is known, else
image columns)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from genre_lightning.audio.rendering import Rendering
from genre_lightning.audio.spectrogram import hz_to_mel
from genre_lightning.predict.report import clock


@dataclass(frozen=True)
class Part:
    """A band of rows or a segment of columns of the model's input: pixels start..stop-1, and its name as a
    musician reads it ("bass (below 250 Hz)", "0:10-0:15")."""

    name: str
    start: int
    stop: int


@dataclass(frozen=True)
class Extent:
    """The share of the original image a model input covers: columns x0..x1 and rows y0..y1 (0-1, rows from
    the top), as the checkpoint's eval preset resizes and crops it."""

    x0: float = 0.0
    x1: float = 1.0
    y0: float = 0.0
    y1: float = 1.0


def input_extent(transform: dict, width: int, height: int) -> Extent:
    """What the eval preset ``transform`` (a checkpoint's preprocessing["transform"]) keeps of a width x
    height image: resized_crop resizes the short side and keeps the centre square; time_crop keeps every
    row and the whole width, or its centre eval_width."""
    size = transform["image_size"]
    if transform["transforms"] == "resized_crop":
        scale = transform["resize_size"] / min(width, height)
        wide, high = width * scale, height * scale
        return Extent(*_centre(wide, size), *_centre(high, size))
    fitted = max(transform.get("eval_width") or 0, width * size / height)
    return Extent(*_centre(fitted, transform.get("eval_width") or fitted))


def _centre(length: float, kept: float) -> tuple[float, float]:
    margin = max(0.0, (length - kept) / 2) / length
    return margin, 1 - margin


def bands_hz(rendering: Rendering | None, bands: dict, height: int, extent: Extent, rows: int) -> list[Part]:
    """The model input's rows (``height`` of them, row 0 at the top) as the frequency bands of ``bands``
    (name -> upper edge in Hz, the last null), through the mel scale ``rendering`` drew the image with;
    bands the image does not show are left out. Without a rendering, ``rows`` equal bands of rows."""
    if rendering is None:
        edges = np.linspace(height, 0, rows + 1).round().astype(int)
        return [
            Part(f"rows {height - low}-{height - high} of {height} from the bottom", high, low)
            for low, high in zip(edges[:-1], edges[1:])
        ]
    spec = rendering.spec
    top_hz = spec.fmax or spec.sample_rate / 2
    low_mel, high_mel = hz_to_mel(spec.fmin), hz_to_mel(top_hz)

    def row(hz: float) -> int:
        """The input row at ``hz``: mels rise linearly from the image's bottom to its top."""
        top_share = 1 - (hz_to_mel(hz) - low_mel) / (high_mel - low_mel)
        return int(np.clip(round((top_share - extent.y0) / (extent.y1 - extent.y0) * height), 0, height))

    parts, lower = [], 0.0
    for name, upper in bands.items():
        # the part of the band the image shows
        low, high = max(lower, spec.fmin), min(top_hz if upper is None else upper, top_hz)
        if high > low and row(low) > row(high):
            if low == 0:
                said = f"below {_hz(high)}"
            elif upper is None:
                said = f"above {_hz(low)}"
            else:
                said = f"{_hz(low)}-{_hz(high)}"
            parts.append(Part(f"{name} ({said})", row(high), row(low)))
        if upper is None:
            break
        lower = max(lower, upper)
    return parts


def _hz(hz: float) -> str:
    return f"{hz / 1000:g} kHz" if hz >= 1000 else f"{hz:g} Hz"


def segments(width: int, count: int, extent: Extent, span: tuple[float, float] | None) -> list[Part]:
    """The model input's columns (``width`` of them) as ``count`` equal time segments, named by their
    time in the song (``span``: the window's start and end, seconds, of the whole original image), else by
    their columns."""
    edges = np.linspace(0, width, count + 1).round().astype(int)
    parts = []
    for start, stop in zip(edges[:-1], edges[1:]):
        if span is None:
            name = f"columns {start}-{stop} of {width}"
        else:
            begin, end = span
            at = [
                begin + (end - begin) * (extent.x0 + (extent.x1 - extent.x0) * c / width)
                for c in (start, stop)
            ]
            name = f"{clock(at[0])}-{clock(at[1])}"
        parts.append(Part(name, int(start), int(stop)))
    return [part for part in parts if part.stop > part.start]
