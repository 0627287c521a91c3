"""Re-export a folder of genre spectrograms as matplotlib figures (white margins, axes, ticks, labels, a title
and a colour bar, as people export them); time the scan's plot-area search (data.trim) over both.

    python benchmarks/figures.py --folder ../shared/fma_small_dev --out /tmp/fma_figures
    python benchmarks/figures.py --folder ../shared/fma_small_dev --out /tmp/fma_figures --scan-only

Then the lighter CPU recipe (docs/accuracy.md) on fold 0, on the originals and on the figures, with and
without the crop:

    OMP_NUM_THREADS=1 python benchmarks/accuracy.py --folder <folder> data.fold=0 data.num_workers=1 \
      model.width=32 trainer.max_epochs=20 callbacks=default \
      'data.batch_augment=[{_target_:genre_lightning.data.augment.SpecAugment}]' data.trim=off|auto

Each figure shows the file's pixels in a plot area of 159 x 163 px (the images' 128 x 128 stretched a little,
as a figure's axes do), inside a 300 x 240 px PNG, and records the plot area matplotlib drew in
figure_boxes.json; the scan's timing compares data.trim=off (JPEGs decoded at 1/8 grey, PNGs verified) with
auto (decoded, searched), neither cached, and says how far the boxes found lie from matplotlib's.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.cm import ScalarMappable  # noqa: E402
from matplotlib.colors import Normalize  # noqa: E402
from PIL import Image  # noqa: E402

from genre_lightning.constants import IMAGE_EXTENSIONS  # noqa: E402
from genre_lightning.data.images import MAX_PIXELS  # noqa: E402
from genre_lightning.data.parallel import parallel_map  # noqa: E402
from genre_lightning.data.scan import scan  # noqa: E402
from genre_lightning.files import files_below, write_json  # noqa: E402

BOXES_FILE = "figure_boxes.json"


class Figure:
    """One figure, drawn once per process and given each image in turn (a new figure per image is ~10x
    slower): the plot area, its axes, labels and title, and a colour bar beside it."""

    def __init__(self):
        self.fig = plt.figure(figsize=(3.0, 2.4), dpi=100)
        self.ax = self.fig.add_axes((0.2, 0.18, 0.53, 0.68))
        self.image = self.ax.imshow(np.zeros((128, 128, 3), np.uint8), aspect="auto", extent=(0, 30, 0, 128))
        self.ax.set(xlabel="time (s)", ylabel="mel band")
        colorbar = self.fig.colorbar(
            ScalarMappable(Normalize(-80, 0), "viridis"), cax=self.fig.add_axes((0.77, 0.18, 0.04, 0.68))
        )
        colorbar.set_label("dB")
        self.fig.canvas.draw()
        left, bottom, right, top = self.ax.get_window_extent().extents
        height = self.fig.canvas.get_width_height()[1]
        # the plot area's [left, top, right, bottom] in the PNG's pixels
        self.box = [float(left), height - float(top), float(right), height - float(bottom)]

    def export(self, source: Path, target: Path) -> list[float]:
        self.image.set_data(np.asarray(Image.open(source).convert("RGB")))
        self.ax.set_title(f"track {source.stem}")  # not the genre: the model would read it
        target.parent.mkdir(parents=True, exist_ok=True)
        self.fig.savefig(target)
        return self.box


_figure: Figure | None = None


def _export(pair: tuple[str, str]) -> list[float]:
    global _figure
    _figure = _figure or Figure()
    return _figure.export(Path(pair[0]), Path(pair[1]))


def export_folder(folder: Path, out: Path, workers: int) -> None:
    sources = files_below(folder, IMAGE_EXTENSIONS)
    pairs = [(str(s), str((out / s.relative_to(folder)).with_suffix(".png"))) for s in sources]
    started = time.perf_counter()
    boxes = list(parallel_map(_export, pairs, workers, chunk=16))
    write_json(out / BOXES_FILE, {target: box for (_, target), box in zip(pairs, boxes)})
    print(f"exported {len(pairs)} figures to {out} in {time.perf_counter() - started:.0f} s")


def scan_cost(folder: Path, out: Path, workers: int) -> None:
    """The scan's time with data.trim=off and auto (neither cached), over the original images and over the
    figures, and how far the boxes found in the figures lie from matplotlib's plot area."""
    truth = json.loads((out / BOXES_FILE).read_text())
    for name, files in (
        ("originals", [str(path) for path in files_below(folder, IMAGE_EXTENSIONS)]),
        ("figures", sorted(truth)),
    ):
        seconds = {}
        for trim in ("off", "auto"):
            started = time.perf_counter()
            records = scan(files, MAX_PIXELS, None, workers, find_boxes=trim == "auto")
            seconds[trim] = time.perf_counter() - started
        added = 1000 * (seconds["auto"] - seconds["off"]) / len(files)
        print(
            f"scan of {len(files)} {name}, {workers} worker(s): data.trim=off {seconds['off']:.1f} s, auto "
            f"{seconds['auto']:.1f} s (+{added:.1f} ms an image); load average {os.getloadavg()[0]:.1f}"
        )
    errors = np.array([[abs(a - b) for a, b in zip(records[f]["box"], truth[f])] for f in files]).max(axis=1)
    print(
        f"boxes found in the figures: at most {errors.max():.1f} px off, "
        f"{(errors <= 2).mean():.1%} within 2 px"
    )


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--folder", type=Path, required=True, help="genre folders of spectrogram images")
    parser.add_argument("--out", type=Path, required=True, help="where the figures go (a new folder)")
    parser.add_argument("--workers", type=int, default=2, help="processes exporting (default 2)")
    parser.add_argument(
        "--scan-workers", type=int, default=0, help="processes scanning (default 0: this one)"
    )
    parser.add_argument("--scan-only", action="store_true", help="time the scan of figures exported before")
    args = parser.parse_args(argv)
    if not args.scan_only:
        export_folder(args.folder, args.out, args.workers)
    scan_cost(args.folder, args.out, args.scan_workers)


if __name__ == "__main__":
    main()
