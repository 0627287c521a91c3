"""Why the fold ensemble gave its answer, for a batch of model inputs: a Grad-CAM map, and the share of the
answer each frequency band and each time segment carried (occlusion), named as music."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from genre_lightning.audio.rendering import Rendering
from genre_lightning.errors import UserError, build
from genre_lightning.explain.attribution import captum, grad_cam, occlusion_drops, silence
from genre_lightning.explain.axes import Extent, Part, bands_hz, input_extent, segments
from genre_lightning.predict.ensemble import Ensemble


@dataclass
class Explanation:
    """One model input explained: for ``genre``, the map (H x W, max 1), and how far the ensemble's
    probability fell when each band or segment was silenced."""

    genre: str
    probability: float
    image: torch.Tensor  # uint8 C x H x W, as the model saw it
    heat: np.ndarray
    bands: list[Part]
    band_drops: list[float]
    segments: list[Part]
    segment_drops: list[float]
    # the seconds the model input covers, from its left edge to its right (None: not known)
    seconds: tuple[float, float] | None = None
    # songs: each window's explanation, in song order (this one then holds their combination)
    windows: list[Explanation] = field(default_factory=list)

    @property
    def band_shares(self) -> list[float]:
        return shares(self.band_drops)

    @property
    def segment_shares(self) -> list[float]:
        return shares(self.segment_drops)

    def top(self, kind: str) -> tuple[str, float] | None:
        """The band or segment (``kind``) that carried the largest share, and the share; None if none
        carried any."""
        parts, values = (
            (self.bands, self.band_shares) if kind == "band" else (self.segments, self.segment_shares)
        )
        best = int(np.argmax(values))
        return (parts[best].name, values[best]) if values[best] > 0 else None

    def sentence(self) -> str:
        """One plain sentence: what carried most of the genre's score."""
        band, segment = self.top("band"), self.top("segment")
        if band is None and segment is None:
            return (
                f"No single band or stretch of time carried the {self.genre} score: hiding any one left it."
            )
        parts = [
            f"the {band[0]} ({band[1]:.0%})" if band else None,
            f"{segment[0]} ({segment[1]:.0%})" if segment else None,
        ]
        said = " and ".join(part for part in parts if part)
        return (
            f"{said[0].upper()}{said[1:]} carried most of the {self.genre} score ({self.probability:.0%}): "
            "the share of it lost when that part alone was silenced."
        )

    def record(self) -> dict:
        """The columns predict.py adds to the file's (or window's) row."""
        band, segment = self.top("band"), self.top("segment")
        return {
            "top_band": band[0] if band else "",
            "top_band_share": round(band[1], 4) if band else 0.0,
            "top_segment": segment[0] if segment else "",
            "top_segment_share": round(segment[1], 4) if segment else 0.0,
            "band_shares": {p.name: round(s, 4) for p, s in zip(self.bands, self.band_shares)},
            "segment_shares": {p.name: round(s, 4) for p, s in zip(self.segments, self.segment_shares)},
        }


def shares(drops: list[float]) -> list[float]:
    """Each part's share of the summed positive drops (a part whose silencing raised the score gets 0)."""
    kept = np.clip(np.asarray(drops, dtype=np.float64), 0, None)
    total = kept.sum()
    return (kept / total if total > 0 else kept).tolist()


def song(windows: list[Explanation]) -> Explanation:
    """A song's explanation from its windows' (each explaining the song's genre): under aggregate=mean the
    song's probability is the windows' mean, so a band's drop is the mean of its windows' drops and a
    segment of one window lowers the song's by its drop over the number of windows."""
    first = windows[0]
    count = len(windows)
    return Explanation(
        first.genre,
        float(np.mean([w.probability for w in windows])),
        first.image,
        first.heat,
        first.bands,
        np.mean([w.band_drops for w in windows], axis=0).tolist(),
        [part for w in windows for part in w.segments],
        [drop / count for w in windows for drop in w.segment_drops],
        (first.seconds[0], windows[-1].seconds[1]) if first.seconds else None,
        windows,
    )


def group_mask(parts: list[Part], length: int) -> torch.Tensor:
    """Each pixel row (or column) of ``length`` -> the index of its part; ones in no part get len(parts)."""
    mask = torch.full((length,), len(parts), dtype=torch.long)
    for index, part in enumerate(parts):
        mask[part.start : part.stop] = index
    return mask


class Explainer:
    """Explanations of ``ensemble``'s answers: Grad-CAM at ``layer`` of every fold, and occlusion of the
    frequency bands ``bands`` (name -> upper edge, Hz; ``rows`` equal bands of rows where the checkpoint
    does not record its rendering) and of ``segments`` equal time segments, ``batch_size`` images per
    forward pass."""

    def __init__(
        self,
        ensemble: Ensemble,
        rendering: Rendering | None,
        layer: str = "net.layer3",
        bands: dict | None = None,
        rows: int = 4,
        segments: int = 6,
        batch_size: int = 32,
    ):
        if ensemble.preprocessing["transform"].get("eval_crops", 1) > 1:
            raise UserError(
                "explain=true: the model scores test-time crops (data.transforms.eval_crops > 1), which an "
                "explanation cannot lay on one image; explain a model trained with eval_crops=1"
            )
        if segments < 1 or rows < 1 or batch_size < 1:
            raise UserError("explain.segments, explain.rows and explain.batch_size must be at least 1")
        self.ensemble, self.rendering, self.layer = ensemble, rendering, layer
        self.bands, self.rows, self.segment_count, self.batch_size = (
            dict(bands or {}),
            rows,
            segments,
            batch_size,
        )
        if rendering is not None and not self.bands:
            raise UserError("explain.bands: name at least one band (name: upper edge in Hz, the last null)")

    def axes(self, image: torch.Tensor, size: tuple[int, int] | None, span: tuple[float, float] | None):
        """The bands, the segments and the seconds covered of a model input made from an original image of
        ``size`` (width, height; None: as it is) that covers ``span`` seconds (None: not known)."""
        height, width = image.shape[-2:]
        extent = Extent() if size is None else input_extent(self.ensemble.preprocessing["transform"], *size)
        seconds = None
        if span is not None:
            begin, length = span[0], span[1] - span[0]
            seconds = (begin + length * extent.x0, begin + length * extent.x1)
        return (
            bands_hz(self.rendering, self.bands, height, extent, self.rows),
            segments(width, self.segment_count, extent, span),
            seconds,
        )

    def explain(
        self,
        images: list[torch.Tensor],
        genres: list[int],
        sizes: list[tuple[int, int] | None],
        spans: list[tuple[float, float] | None],
    ) -> list[Explanation]:
        """One explanation per model input, of the genre index ``genres[i]``; ``sizes``: the original
        images' (width, height), ``spans``: the seconds each covers. Inputs of one shape and layout go
        through the models together, ``batch_size`` at a time."""
        explained: list[Explanation | None] = [None] * len(images)
        groups: dict = {}
        for i, image in enumerate(images):
            axes = self.axes(image, sizes[i], spans[i])
            layout = [tuple((p.start, p.stop) for p in parts) for parts in axes[:2]]
            groups.setdefault((tuple(image.shape), *layout), []).append(i)
        for members in groups.values():
            for start in range(0, len(members), self.batch_size):
                chunk = members[start : start + self.batch_size]
                batch = self._batch(
                    [images[i] for i in chunk],
                    [genres[i] for i in chunk],
                    *self.axes(images[chunk[0]], sizes[chunk[0]], spans[chunk[0]])[:2],
                )
                for i, (heat, probability, band_drops, segment_drops) in zip(chunk, batch):
                    bands, parts, seconds = self.axes(images[i], sizes[i], spans[i])
                    explained[i] = Explanation(
                        self.ensemble.class_names[genres[i]],
                        probability,
                        images[i],
                        heat,
                        bands,
                        band_drops,
                        parts,
                        segment_drops,
                        seconds,
                    )
        return explained

    def _batch(self, images: list[torch.Tensor], genres: list[int], bands: list[Part], parts: list[Part]):
        """Per image of one layout: its map, the probability explained, and the drops of its bands and its
        segments."""
        ensemble = self.ensemble
        batch = torch.stack(images).to(ensemble.device).float()
        targets = torch.tensor(genres, device=ensemble.device)
        height, width = batch.shape[-2:]
        fill = silence(batch)
        rows = group_mask(bands, height)[:, None].expand(height, width)
        columns = group_mask(parts, width)[None, :].expand(height, width)
        band_drops = occlusion_drops(ensemble.net, batch, targets, rows, fill, self.batch_size)
        segment_drops = occlusion_drops(ensemble.net, batch, targets, columns, fill, self.batch_size)
        heat = grad_cam(ensemble.models, self.layer, batch, targets).cpu().numpy()
        with torch.no_grad():
            probabilities = ensemble.net(batch).gather(1, targets[:, None])[:, 0].tolist()
        return zip(
            heat,
            probabilities,
            band_drops[:, : len(bands)].tolist(),
            segment_drops[:, : len(parts)].tolist(),
        )


def configured(settings, ensemble: Ensemble, rendering: Rendering | None = None) -> Explainer:
    """The explainer the config's explanation block describes (Captum checked first). Bands are named in
    Hz through ``rendering`` (songs), else through the rendering the checkpoint records (images), else by
    rows."""
    captum()
    if rendering is None and ensemble.preprocessing.get("spectrogram") is not None:
        rendering = ensemble.rendering()[0]
    return build("explanation.explainer", settings.explainer, ensemble=ensemble, rendering=rendering)
