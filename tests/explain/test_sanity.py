"""Sanity checks of the explanations (after Adebayo et al., "Sanity checks for saliency maps", 2018): a cue
planted in one genre's images is found, the explanation depends on the trained weights, and it is the same
on every call.
The model: conftest.py's cue_run."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import CUE, CUE_GENRE, CUE_GENRES
from scipy.stats import spearmanr

from genre_lightning.explain.explainer import Explainer
from genre_lightning.predict.ensemble import Ensemble, find_checkpoints

# the planted-cue check's thresholds: of Rock's score, at least CUE_SHARE lies in the cue's band (a band
# is a quarter of the image: 0.25 if the bands counted alike), and the other genres' share there is at most
# half of Rock's
CUE_SHARE = 0.45
# randomisation: the rank correlation of the trained and the re-initialised model's band shares stays below
RANDOM_CORRELATION = 0.5


def cue_explainer(run) -> Explainer:
    """An explainer of the cue model's fold ensemble, by 4 bands of rows (no rendering: the repainted
    images are not the rendering's) and 4 segments."""
    ensemble = Ensemble(find_checkpoints(run, run.parent), precision="32")
    return Explainer(ensemble, None, rows=4, segments=4, batch_size=8)


@pytest.fixture(scope="module")
def explained(cue_run):
    """The explainer, and 6 images of each genre (the first of its training folder) with their genres."""
    run, root = cue_run
    explainer = cue_explainer(run)
    images, genres = [], []
    for genre in CUE_GENRES:
        for path in sorted((root / genre).glob("*.png"))[:6]:
            images.append(explainer.ensemble.preprocess(path))
            genres.append(explainer.ensemble.class_names.index(genre))
    return explainer, images, genres


def explain(explainer, images, genres):
    return explainer.explain(images, genres, [None] * len(images), [None] * len(images))


def cue_band(explanation) -> int:
    [index] = [
        i for i, band in enumerate(explanation.bands) if (band.start, band.stop) == (CUE.start, CUE.stop)
    ]
    return index


def test_a_planted_cue_carries_its_genre_and_not_the_others(explained):
    explainer, images, genres = explained
    results = explain(explainer, images, genres)
    labels = [explainer.ensemble.class_names[genre] for genre in genres]
    band = cue_band(results[0])
    cue = [r.band_shares[band] for r, label in zip(results, labels) if label == CUE_GENRE]
    others = [r.band_shares[band] for r, label in zip(results, labels) if label != CUE_GENRE]
    assert np.mean(cue) >= CUE_SHARE, (cue, others)
    assert np.mean(others) <= np.mean(cue) / 2, (cue, others)


def test_the_explanation_depends_on_the_trained_weights(explained, cue_run):
    explainer, images, genres = explained
    rock = [i for i, genre in enumerate(genres) if explainer.ensemble.class_names[genre] == CUE_GENRE]
    trained = explain(explainer, [images[i] for i in rock], [genres[i] for i in rock])
    # the trained model's explanation finds its cue...
    band = cue_band(trained[0])
    assert sum(int(np.argmax(r.band_shares)) == band for r in trained) >= len(rock) - 1
    # ...and the same networks with their weights drawn anew explain otherwise
    shuffled = cue_explainer(cue_run[0])
    torch.manual_seed(0)
    for model in shuffled.ensemble.models:
        for module in model.net.modules():
            if hasattr(module, "reset_parameters"):
                module.reset_parameters()
    random = explain(shuffled, [images[i] for i in rock], [genres[i] for i in rock])
    a = np.concatenate([r.band_shares for r in trained])
    b = np.concatenate([r.band_shares for r in random])
    correlation = spearmanr(a, b).statistic
    assert correlation < RANDOM_CORRELATION, (a, b)


def test_two_calls_give_the_same_map(explained):
    explainer, images, genres = explained
    first, second = explain(explainer, images[:3], genres[:3]), explain(explainer, images[:3], genres[:3])
    for a, b in zip(first, second):
        np.testing.assert_allclose(a.heat, b.heat, atol=1e-6)
        assert a.band_drops == pytest.approx(b.band_drops, abs=1e-6)
        assert a.segment_drops == pytest.approx(b.segment_drops, abs=1e-6)
    # and a map that says something: it varies over the image, and from image to image
    assert first[0].heat.std() > 0.05
    assert np.abs(first[0].heat - first[1].heat).max() > 0.05
