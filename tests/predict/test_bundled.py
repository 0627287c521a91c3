"""The bundled model (genre_lightning/pretrained): read as data like any checkpoint, int8 and fp16 weights
that predict as fp32's, and what predict.py, eval.py and app.py do with it when given no ckpt."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
import torch
from conftest import fma_small

from genre_lightning.app.classify import FileClassifier
from genre_lightning.app.page import introduction
from genre_lightning.audio.rendering import Rendering
from genre_lightning.demo.synth import synthesize
from genre_lightning.errors import UserError
from genre_lightning.predict.bundle import bundled
from genre_lightning.predict.checkpoint import load_classifier, read_checkpoint
from genre_lightning.predict.ensemble import Ensemble
from genre_lightning.pretrained import NAME, bundled_checkpoints
from genre_lightning.pretrained.int8 import SCALES

FMA_GENRES = ["Electronic", "Experimental", "Folk", "Hip-Hop", "Instrumental", "International", "Pop", "Rock"]


def fma_image(path, genre: str, seed: int):
    """An FMA-style image (the fma_small rendering) of a synthesised clip (8 s: its image is as wide)."""
    audio = synthesize(genre, np.random.default_rng(seed), 8.0, 44100)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(fma_small().encode(audio))
    return path


def test_the_bundled_model_loads_through_the_safe_loader_and_renders_songs_as_fma_small():
    files = bundled_checkpoints()
    assert files and sum(path.stat().st_size for path in files) <= 15 * 10**6
    for path in files:
        model = load_classifier(path)  # torch.load(weights_only=True), every value checked
        assert model.hparams.class_names == FMA_GENRES
        assert Rendering.from_dict(model.hparams.preprocessing["spectrogram"]) == fma_small()
        stored = torch.load(path, weights_only=True)
        assert {t.dtype for t in stored["state_dict"].values()} == {torch.int8, torch.float16, torch.int64}
        assert set(stored[SCALES]) == {k for k, t in stored["state_dict"].items() if t.dtype == torch.int8}


def test_bundled_weights_predict_as_fp32_weights(tmp_path):
    # the bundled network with full fp32 mantissas (each weight moved by ~0.1%), bundled again (int8, fp16)
    hparams, state = read_checkpoint(bundled_checkpoints()[0])
    generator = torch.Generator().manual_seed(0)
    fp32 = {
        k: v.float() * (1 + 1e-3 * torch.randn(v.shape, generator=generator)) if v.is_floating_point() else v
        for k, v in state.items()
    }
    torch.save({"hyper_parameters": hparams, "state_dict": fp32}, tmp_path / "fp32.ckpt")
    torch.save(bundled(tmp_path / "fp32.ckpt", None), tmp_path / "small.ckpt")
    images = [
        fma_image(tmp_path / f"{genre}.jpg", genre, i) for i, genre in enumerate(["Rock", "Folk", "Pop"])
    ]
    probabilities = []
    for path in ("fp32.ckpt", "small.ckpt"):
        ensemble = Ensemble([tmp_path / path], precision="32")
        probabilities.append(ensemble.probabilities(torch.stack([ensemble.preprocess(p) for p in images])))
    # int8 rounding moves each weight by up to half a level of its channel's 127; with the stem and the head
    # kept fp16 a probability moves by 0.003 here (by 0.012 with every layer int8)
    assert torch.allclose(*probabilities, atol=1e-2)
    assert (tmp_path / "small.ckpt").stat().st_size < 0.3 * (tmp_path / "fp32.ckpt").stat().st_size


def test_int8_weights_without_their_scales_are_refused_in_one_line(tmp_path):
    stored = torch.load(bundled_checkpoints()[0], weights_only=True)
    name = next(iter(stored[SCALES]))
    for broken, says in (
        ({**stored, SCALES: {}}, "do not pair up"),
        ({**stored, SCALES: {**stored[SCALES], name: stored[SCALES][name][:-1]}}, f"the scale of {name}"),
    ):
        torch.save(broken, tmp_path / "broken.ckpt")
        with pytest.raises(UserError, match="broken.ckpt: .*use one written by train.py") as err:
            read_checkpoint(tmp_path / "broken.ckpt")
        assert says in str(err.value) and "\n" not in str(err.value)


def test_predict_and_eval_use_the_bundled_model_without_a_ckpt(entry, tmp_path):
    images = [
        fma_image(tmp_path / "images" / genre / f"{genre}.jpg", genre, i)
        for i, genre in enumerate(["Rock", "Folk"])
    ]
    # an image like ../shared/real_samples (the published rendering: 1984x1478 magma), another rendering
    real_sample_like = tmp_path / "published.jpg"
    real_sample_like.write_bytes(Rendering().encode(synthesize("Folk", np.random.default_rng(9), 8.0, 22050)))
    song = tmp_path / "song.flac"
    sf.write(song, synthesize("Hip-Hop", np.random.default_rng(5), 30.0, 44100), 44100)
    for args in (
        [f"image={images[0]}"],
        [f"image={tmp_path / 'images'}"],
        [f"image={real_sample_like}"],
        [f"audio={song}"],
    ):
        result = entry("predict.py", *args)
        assert result.code == 0, result.err
        assert f"no ckpt given: using the bundled model {NAME}" in result.err
        assert len(result.err.strip().splitlines()) == 1
        assert any(genre in result.out for genre in FMA_GENRES)
    result = entry("eval.py", f"images={tmp_path / 'images'}", f"hydra.run.dir={tmp_path / 'eval'}")
    assert result.code == 0, result.err
    assert "accuracy" in result.out and (tmp_path / "eval" / "eval.json").is_file()


def test_the_app_headline_names_the_bundled_model_and_its_genres():
    ensemble = Ensemble(bundled_checkpoints())
    classifier = FileClassifier(ensemble, ensemble.rendering()[0], 8, "mean", 600)
    text = introduction(classifier)
    assert f"bundled model {NAME}" in text and all(genre in text for genre in FMA_GENRES)
