"""rendering=fma_small against FMA-small's own recipe, followed step by step with librosa (a test-only
dependency: the `test` extra) on a synthesised clip."""

from __future__ import annotations

import io
from dataclasses import replace

import librosa
import librosa.display
import numpy as np
import pytest
import soundfile as sf
from conftest import TINY, compose_train, fma_small
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image

from genre_lightning.audio.rendering import read_marker
from genre_lightning.errors import build

# mean absolute difference per pixel and channel, in grey levels of 255, between our JPEG and the recipe's
# (JPEG quality 85 both). Measured: 0 (the same pixels); the margin is for float rounding in another numpy
# or librosa moving a few pixels by one colormap step. Resampling the dB levels ourselves instead of
# matplotlib's rasteriser (draw=resize) is about 12 levels away.
BOUND = 0.5


def recipe(path) -> Image.Image:
    """FMA-small's image of an audio file, as its creator's script made it."""
    y, sr = librosa.load(path, sr=None, duration=30.0)  # the first 30 s, at the file's own rate
    power = librosa.feature.melspectrogram(y=y, sr=sr, n_fft=2048, hop_length=512, n_mels=128, fmax=sr / 2)
    db = librosa.power_to_db(power, ref=np.max, top_db=80.0)
    figure = Figure(figsize=(1.28, 1.28), dpi=100)  # as plt.figure(figsize=(1.28, 1.28), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    librosa.display.specshow(db, sr=sr, hop_length=512, cmap="viridis", ax=axes)
    axes.axis("off")
    buffer = io.BytesIO()
    figure.savefig(buffer, bbox_inches="tight", pad_inches=0)
    image = Image.open(buffer).convert("RGB").resize((128, 128))
    jpeg = io.BytesIO()
    image.save(jpeg, format="JPEG", quality=85)
    return Image.open(jpeg)


def clip(seconds: float, rate: int) -> np.ndarray:
    """A rising tone over noise bursts twice a second: detail in time and frequency, for where the
    rasteriser picks frames."""
    t = np.arange(int(seconds * rate)) / rate
    tone = np.sin(2 * np.pi * (100 * t + 150 * t**2))
    bursts = np.random.default_rng(0).standard_normal(t.size) * (np.sin(2 * np.pi * 2 * t) > 0.5)
    return (0.4 * tone + 0.1 * bursts).astype(np.float32)


@pytest.mark.parametrize("rate", [44100, 32000])
def test_fma_small_rendering_matches_the_recipe_at_the_files_own_rate(tmp_path, rate):
    # 32 s: the rendering keeps the first 30 s, as the recipe
    song = tmp_path / "song.flac"
    sf.write(song, clip(32.0, rate), rate)
    rendering = fma_small().for_file(song)
    assert rendering.spec.sample_rate == rate  # read at its own rate, never resampled
    windows = rendering.render_file(song)
    assert len(windows) == 1 and windows[0].end == pytest.approx(30.0)
    ours = np.asarray(Image.open(io.BytesIO(windows[0].jpeg)), dtype=float)
    theirs = np.asarray(recipe(song), dtype=float)
    assert ours.shape == theirs.shape == (128, 128, 3)
    assert np.abs(ours - theirs).mean() <= BOUND
    resized = replace(rendering, spec=replace(rendering.spec, draw="resize")).render_file(song)[0]
    assert np.abs(np.asarray(Image.open(io.BytesIO(resized.jpeg)), dtype=float) - theirs).mean() > 10 * BOUND


def test_checkpoints_record_data_rendering_for_a_folder_without_a_marker(demo_root, tmp_path):
    # what train.py puts in every checkpoint (preprocessing), so that predict.py renders songs the same way
    def recorded(root):
        cfg = compose_train(
            [*TINY, f"data.root={root}", "+rendering@data.rendering=fma_small"], tmp_path / "run"
        )
        return build("data", cfg.data).preprocessing["spectrogram"]

    assert recorded(tmp_path / "images") == fma_small().to_dict()
    # a folder's own record (build_dataset.py's spectrogram.json, the demo set's marker) wins
    assert recorded(demo_root) == read_marker(demo_root).to_dict() != fma_small().to_dict()
