"""An explanation as one PNG: the spectrogram as the model saw it with the map over it, the band shares as
bars along its frequency axis, the segment shares along its time axis, and a title naming the file, the
genre and its probability. A song's windows lie side by side on its timeline."""

from __future__ import annotations

import io
import textwrap

import numpy as np
from matplotlib.figure import Figure

from genre_lightning.explain.explainer import Explanation

# the map drawn as this colour over the spectrogram, opaque in proportion to its value (magma and viridis,
# the spectrograms' colormaps, have no cyan)
MAP_RGB = (0.0, 0.9, 1.0)
MAP_OPACITY = 0.65


def picture(image) -> np.ndarray:
    """uint8 C x H x W model input -> H x W x 3 floats; one magnitude channel drawn in grey."""
    pixels = image.float().numpy() / 255
    return np.repeat(pixels, 3, axis=0).transpose(1, 2, 0) if len(pixels) == 1 else pixels.transpose(1, 2, 0)


def overlay(heat: np.ndarray) -> np.ndarray:
    rgba = np.zeros((*heat.shape, 4))
    rgba[..., :3] = MAP_RGB
    rgba[..., 3] = MAP_OPACITY * np.clip(heat, 0, 1)
    return rgba


def draw(explanation: Explanation, title: str) -> bytes:
    """The PNG of an image's or a song's explanation (``explanation.windows``: the song's windows)."""
    figure = Figure(figsize=(8, 5), dpi=100, layout="constrained")
    grid = figure.add_gridspec(2, 2, width_ratios=(4, 1.3), height_ratios=(4, 1.2))
    view = figure.add_subplot(grid[0, 0])
    windows = explanation.windows or [explanation]
    height = explanation.image.shape[-2]
    for window in windows:
        left, right = window.seconds or (0, window.image.shape[-1])
        extent = (left, right, height, 0)
        view.imshow(picture(window.image), extent=extent, aspect="auto", interpolation="nearest")
        view.imshow(overlay(window.heat), extent=extent, aspect="auto", interpolation="bilinear")
    view.set_xlim(
        min(w.seconds[0] if w.seconds else 0 for w in windows),
        max(w.seconds[1] if w.seconds else w.image.shape[-1] for w in windows),
    )
    view.set_yticks([])
    view.set_title(title, fontsize=10, loc="left")

    bands = figure.add_subplot(grid[0, 1], sharey=view)
    centres = [(b.start + b.stop) / 2 for b in explanation.bands]
    bands.barh(centres, explanation.band_shares, [b.stop - b.start for b in explanation.bands], color="0.4")
    for y, band, share in zip(centres, explanation.bands, explanation.band_shares):
        bands.text(0.02, y, f"{band.name} {share:.0%}", va="center", fontsize=7, color="black")
    bands.set_xlim(0, 1)
    bands.set_xlabel("band share")
    bands.tick_params(labelleft=False)

    times = figure.add_subplot(grid[1, 0], sharex=view)
    for window, values in zip(windows, window_shares(explanation)):
        left, right = window.seconds or (0, window.image.shape[-1])
        scale = (right - left) / window.image.shape[-1]
        for part, share in zip(window.segments, values):
            times.bar(
                left + part.start * scale, share, (part.stop - part.start) * scale, align="edge", color="0.4"
            )
    times.set_ylim(0, max(0.05, *explanation.segment_shares) * 1.1)
    times.set_ylabel("segment share")
    view.tick_params(labelbottom=False)
    times.set_xlabel("seconds" if explanation.seconds else "image columns")

    words = figure.add_subplot(grid[1, 1])
    words.axis("off")
    words.text(0, 1, textwrap.fill(explanation.sentence(), 28), va="top", fontsize=7)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def window_shares(explanation: Explanation) -> list[list[float]]:
    """The song's segment shares split by window (an image: its own, as one window)."""
    windows = explanation.windows or [explanation]
    ends = np.cumsum([len(w.segments) for w in windows])
    return [explanation.segment_shares[end - len(w.segments) : end] for w, end in zip(windows, ends)]
