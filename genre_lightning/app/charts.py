"""The page's pictures: the genre through a song as a stacked timeline, and the model's input images as one
sheet.

Figures are made with matplotlib's object API (no pyplot): nothing global to close or leak in a server.
"""

from __future__ import annotations

import math

import matplotlib
import numpy as np
import torch
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, PercentFormatter
from PIL import Image, ImageDraw, ImageFont

from genre_lightning.predict.inference import Span
from genre_lightning.predict.report import clock

# the window sheet: model input tiles per row, and the white gap between tiles (pixels)
SHEET_COLUMNS = 10
SHEET_GAP = 2


def genre_colors(count: int) -> list:
    """One colour per genre, in the model's order."""
    palette = matplotlib.colormaps["tab10" if count <= 10 else "tab20"]
    return [palette(i % palette.N) for i in range(count)]


def timeline_chart(
    class_names: list[str], spans: list[Span], window_probabilities: list[list[float]]
) -> Figure:
    """Each window's probabilities stacked, from its start to the next window's (the last one to its end);
    small ticks mark where windows start."""
    edges = [start for start, _ in spans] + [spans[-1][1]]
    # a step shape: x = e0, e1, e1, e2, e2, ..., eN and each window's values twice
    x = np.repeat(edges, 2)[1:-1]
    y = np.repeat(np.asarray(window_probabilities), 2, axis=0).T
    fig = Figure(figsize=(9, 3), layout="constrained")
    ax = fig.subplots()
    ax.stackplot(x, y, labels=class_names, colors=genre_colors(len(class_names)), linewidth=0)
    ax.set_xlim(edges[0], edges[-1])
    ax.set_ylim(0, 1)
    ax.set_xticks(edges, minor=True)
    ax.xaxis.set_major_formatter(FuncFormatter(lambda seconds, _: clock(seconds)))
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_xlabel("time in the song (m:ss)")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False)
    return fig


def window_sheet(images: list[torch.Tensor], spans: list[Span] | None) -> Image.Image:
    """The model's input images (uint8, 3 x H x W) in reading order, a row per ``SHEET_COLUMNS``, each
    labelled with where its window starts."""
    height, width = images[0].shape[1:]
    columns, rows = min(len(images), SHEET_COLUMNS), math.ceil(len(images) / SHEET_COLUMNS)
    step_x, step_y = width + SHEET_GAP, height + SHEET_GAP
    sheet = Image.new("RGB", (columns * step_x - SHEET_GAP, rows * step_y - SHEET_GAP), "white")
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default(size=max(10, height // 8))
    for k, image in enumerate(images):
        left, top = (k % columns) * step_x, (k // columns) * step_y
        sheet.paste(Image.fromarray(image.permute(1, 2, 0).numpy()), (left, top))
        if spans is not None:
            draw.text(
                (left + 3, top + 2),
                clock(spans[k][0]),
                fill="white",
                font=font,
                stroke_width=2,
                stroke_fill="black",
            )
    return sheet
