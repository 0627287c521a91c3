"""eval.py's explain=true: per genre, the mean band and segment shares of the genre's score over its test
images, and a warning for a genre whose map lies mostly on the image's border or on silence (a shortcut the
model may have learnt instead of the music: a margin, a frame, a watermark, quiet endings)."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np
from tqdm import tqdm

from genre_lightning.constants import EXPLAIN_FILE
from genre_lightning.data.images import open_image
from genre_lightning.errors import UserError
from genre_lightning.explain.attribution import silence
from genre_lightning.explain.explainer import Explanation, configured
from genre_lightning.files import write_json
from genre_lightning.predict.ensemble import Ensemble
from genre_lightning.predict.evaluate import LabelledImages
from genre_lightning.tables import align

# a pixel within this many grey levels (summed over its channels) of the image's darkest is silence
SILENCE_LEVELS = 24


def mass_on(explanation: Explanation, border: float) -> dict[str, float]:
    """The share of the map's mass, and of the image's area, on its border (the outer ``border`` of its
    height and width on each side) and on pixels of silence."""
    heat = explanation.heat.astype(np.float64)
    height, width = heat.shape
    frame = np.ones_like(heat, dtype=bool)
    rows, columns = max(1, round(border * height)), max(1, round(border * width))
    frame[rows : height - rows, columns : width - columns] = False
    image = explanation.image.float()
    quiet = (image - silence(image[None])[0][:, None, None]).abs().sum(dim=0) <= SILENCE_LEVELS
    quiet = quiet.numpy()
    total = heat.sum()

    def share(where: np.ndarray) -> float:
        return float(heat[where].sum() / total) if total > 0 else 0.0

    return {
        "border": share(frame),
        "border_area": float(frame.mean()),
        "silence": share(quiet),
        "silence_area": float(quiet.mean()),
    }


class EvaluationExplainer:
    """eval.py's explain=true, set up (Captum found, the explainer built) before the evaluation runs."""

    def __init__(self, cfg, ensemble: Ensemble):
        self.explainer = configured(cfg.explanation, ensemble)
        self.border, self.share = cfg.explanation.shortcut.border, cfg.explanation.shortcut.share
        self.ensemble = ensemble

    def __call__(self, data: LabelledImages, out_dir: Path) -> list[str]:
        """Explain every readable image's own genre, write explain.json into ``out_dir``; the table and
        the warnings to print."""
        sums: dict[str, dict] = defaultdict(lambda: defaultdict(lambda: defaultdict(float)))
        counts: dict[str, int] = defaultdict(int)
        step = self.explainer.batch_size
        for start in tqdm(range(0, len(data.files), step), unit="batch", disable=None):
            batch = self._read(data, range(start, min(start + step, len(data.files))))
            for genre, explanation in zip(batch[1], self.explainer.explain(*batch)):
                name = self.ensemble.class_names[genre]
                counts[name] += 1
                for part, value in zip(explanation.bands, explanation.band_shares):
                    sums[name]["bands"][part.name] += value
                for part, value in zip(explanation.segments, explanation.segment_shares):
                    sums[name]["segments"][part.name] += value
                for key, value in mass_on(explanation, self.border).items():
                    sums[name]["map"][key] += value
        if not counts:
            raise UserError(f"{data.folder}: no image could be read to explain")
        genres = {
            name: {
                kind: {k: v / counts[name] for k, v in values.items()} for kind, values in sums[name].items()
            }
            | {"images": counts[name]}
            for name in data.genres
            if counts[name]
        }
        write_json(out_dir / EXPLAIN_FILE, {"border": self.border, "genres": genres})
        return [table(genres), *self.warnings(genres)]

    def _read(self, data: LabelledImages, indices: range) -> tuple[list, list, list, list]:
        images, genres, sizes, spans = [], [], [], []
        rendering = self.explainer.rendering
        seconds = rendering.window_seconds if rendering is not None else None
        for index in indices:
            path = data.files[index]
            try:
                images.append(self.ensemble.preprocess(path))
                with open_image(path) as image:
                    sizes.append(image.size)
            except UserError:  # eval.json lists it among the unreadable
                continue
            genres.append(self.ensemble.class_names.index(data.genres[data.labels[index]]))
            spans.append(None if seconds is None else (0.0, seconds))
        return images, genres, sizes, spans

    def warnings(self, genres: dict) -> list[str]:
        """A line for each genre whose map lies mostly (more than ``share`` of it, and more than the
        area's share) on the border or on silence."""
        lines = []
        for name, values in genres.items():
            for where, what in (
                ("border", "the image's border"),
                ("silence", "silence (the darkest colour)"),
            ):
                mass, area = values["map"][where], values["map"][f"{where}_area"]
                if mass > self.share and mass > area:
                    lines.append(
                        f"warning: {name}: {mass:.0%} of the map lies on {what}, {area:.0%} of the image: "
                        "a possible shortcut; look at its images' explanations (predict.py explain=true)"
                    )
        return lines


def table(genres: dict) -> str:
    """Per genre: the band and the segment with the largest mean share, and the map's mass on the border
    and on silence."""
    rows = [["genre", "images", "top band", "top segment", "map on border", "map on silence"]]
    for name, values in genres.items():
        band = max(values["bands"].items(), key=lambda item: item[1])
        segment = max(values["segments"].items(), key=lambda item: item[1])
        rows.append(
            [
                name,
                str(values["images"]),
                f"{band[0]} {band[1]:.0%}",
                f"{segment[0]} {segment[1]:.0%}",
                f"{values['map']['border']:.0%}",
                f"{values['map']['silence']:.0%}",
            ]
        )
    return align(rows, left=4)
