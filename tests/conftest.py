"""Shared fixtures: a tiny demo dataset and Hydra-composed configs for fast CPU runs."""

from __future__ import annotations

import fcntl
import os
import runpy
import shutil
import struct
import subprocess
import sys
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from hydra.core.global_hydra import GlobalHydra
from hydra.utils import instantiate
from omegaconf import OmegaConf
from PIL import Image

from genre_lightning.audio.rendering import Rendering
from genre_lightning.audio.spectrogram import SpectrogramSpec
from genre_lightning.compose import CONFIGS, compose_train
from genre_lightning.demo.dataset import make_demo_dataset
from genre_lightning.demo.synth import synthesize

ROOT = Path(__file__).resolve().parents[1]

# resnet18 at a quarter of its width (16 channels in the first stage), 64 px, on a few dozen images: a
# fraction of a second per epoch on 2 cores, and checkpoints of 5 MB rather than 86
TINY = [
    "experiment=demo",
    "model.width=16",
    "data.image_size=64",
    "data.resize_size=64",
    "data.num_folds=2",
    "data.batch_size=16",
    "data.num_workers=0",
    "trainer.max_epochs=1",
    "trainer.enable_progress_bar=false",
    "trainer.enable_model_summary=false",
]

# TensorBoard's figures left out of a training no test reads a figure of: the confusion matrix is drawn
# every validation epoch (about 0.2 s each, on tiny folds as much as the epoch itself)
NO_FIGURES = ["~callbacks.input_samples", "~callbacks.confusion_matrix"]

# Two cores: one worker uses both; under pytest-xdist's two workers, each (and the commands it starts) one.
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ["OMP_NUM_THREADS"] = "1"
    torch.set_num_threads(1)
else:
    torch.set_num_threads(2)


def fma_small() -> Rendering:
    """rendering=fma_small (configs/rendering/fma_small.yaml), the bundled model's."""
    return Rendering.from_dict(
        OmegaConf.to_container(OmegaConf.load(CONFIGS / "rendering" / "fma_small.yaml"))
    )


def built_once(tmp_path_factory, name: str, build: Callable[[Path], object]) -> Path:
    """The folder `name`, filled by build(folder) once in the whole test run: under pytest-xdist the first
    worker to ask builds it while holding a lock, and the others wait for it and share it. For the fixtures
    that tests only read (a test that changes one copies it first)."""
    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent  # the run's folder, above each worker's own
    folder, done = base / name, base / f"{name}.done"
    with open(base / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not done.exists():
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir()
            build(folder)
            done.touch()
    return folder


@pytest.fixture(scope="session")
def demo_root(tmp_path_factory) -> Path:
    """A small seven-genre demo set (24 images per genre at 96x72)."""

    def build(folder: Path) -> None:
        spec = SpectrogramSpec(width=96, height=72)
        make_demo_dataset(folder / "spectrograms", per_class=24, seconds=3.0, spec=spec)

    return built_once(tmp_path_factory, "demo", build) / "spectrograms"


@pytest.fixture
def tiny_cfg(demo_root, tmp_path):
    """Factory: tiny demo-set training config with extra overrides."""

    def make(*overrides: str):
        return compose_train([*TINY, f"data.root={demo_root}", *overrides], tmp_path / "run")

    return make


@pytest.fixture
def imagenet_resnet18(tmp_path, monkeypatch):
    """A stand-in for torchvision's ImageNet resnet18 weights, placed where torchvision looks before it
    downloads ($TORCH_HOME/hub/checkpoints/<file>); returns the network whose weights they are."""
    from torchvision import models

    reference = models.resnet18(weights=None)
    file = models.ResNet18_Weights.IMAGENET1K_V1.url.rsplit("/", 1)[-1]
    (tmp_path / "hub" / "checkpoints").mkdir(parents=True)
    torch.save(reference.state_dict(), tmp_path / "hub" / "checkpoints" / file)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    return reference


@pytest.fixture(scope="session")
def trained_run(demo_root, tmp_path_factory) -> Path:
    """One finished 2-fold run on the demo set, shared by the prediction tests."""
    from genre_lightning.training.kfold import train

    def build(folder: Path) -> None:
        train(compose_train([*TINY, f"data.root={demo_root}", "trainer.max_epochs=2"], folder / "run"))

    return built_once(tmp_path_factory, "trained", build) / "run"


def write_png_bomb(path: Path, side: int = 20000) -> Path:
    """A valid black side x side PNG of a few dozen KB (1 bit per pixel, zlib'd zeros): decoded to RGB it
    would take side * side * 3 bytes, 1.2 GB at the default size."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows, packer = b"\x00" * (1 + (side + 7) // 8) * 500, zlib.compressobj(9)
    data = b"".join(packer.compress(rows) for _ in range(side // 500)) + packer.flush()
    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")
    )
    return path


@dataclass
class Result:
    code: int
    out: str
    err: str


def run_script(script: str, *args: str) -> int:
    """Run a top-level Hydra script (train.py, predict.py, build_dataset.py) in this process, as its command
    line would: no subprocess start-up, same code path. Returns its exit status."""
    argv = sys.argv
    sys.argv = [str(ROOT / script), *args]
    try:
        runpy.run_path(str(ROOT / script), run_name="__main__")
        return 0
    except SystemExit as exit:
        return exit.code if isinstance(exit.code, int) else 1
    finally:
        sys.argv = argv
        GlobalHydra.instance().clear()


@pytest.fixture
def entry(capsys):
    """Factory: run_script, returning the exit status and what the script printed."""

    def run(script: str, *args: str) -> Result:
        capsys.readouterr()
        code = run_script(script, *args)
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return run


@pytest.fixture
def write_song():
    """Factory: write a synthetic song (a demo genre's clip, or a plain tone when genre is None) to `path`;
    the format follows the suffix (.wav, .flac, .ogg, .mp3)."""

    def write(
        path: Path, seconds: float = 3.0, genre: str | None = "Rock", seed: int = 0, sr: int = 22050
    ) -> Path:
        if genre is None:
            audio = 0.5 * np.sin(2 * np.pi * (220 + 40 * seed) * np.arange(int(seconds * sr)) / sr)
        else:
            audio = synthesize(genre, np.random.default_rng(seed), seconds, sr)
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(path, audio.astype(np.float32), sr, **({"format": "MP3"} if path.suffix == ".mp3" else {}))
        return path

    return write


@pytest.fixture
def held_elsewhere():
    """Factory: run `code` (Python that takes a lock) in another process, which keeps it until the test
    ends; returns that process's pid."""
    holders = []

    def hold(code: str) -> int:
        proc = subprocess.Popen(
            [sys.executable, "-c", f"import sys\n{code}\nprint('held', flush=True)\nsys.stdin.read()"],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        holders.append(proc)
        assert proc.stdout.readline().strip() == "held"
        return proc.pid

    yield hold
    for proc in holders:
        proc.communicate("", timeout=60)


# the app's limits in the tests of tests/app: small, so that the tests can cross them cheaply
APP_MAX_SECONDS = 12
APP_MAX_UPLOAD_MB = 1


@dataclass
class Served:
    url: str
    classifier: object  # genre_lightning.app.classify.FileClassifier
    uncertainty: object  # genre_lightning.app.uncertainty.Uncertainty, as configs/app.yaml sets it


@pytest.fixture(scope="session")
def served(trained_run, tmp_path_factory):
    """The app on this machine (the tiny trained run), for the API and browser tests."""
    from genre_lightning.app.classify import FileClassifier
    from genre_lightning.app.examples import make_examples
    from genre_lightning.app.page import build_page, launch
    from genre_lightning.predict.ensemble import Ensemble, find_checkpoints
    from genre_lightning.predict.inference import song_rendering

    ensemble = Ensemble(find_checkpoints(trained_run, trained_run.parent))
    classifier = FileClassifier(ensemble, song_rendering(ensemble), max_seconds=APP_MAX_SECONDS)
    uncertainty = instantiate(OmegaConf.load(CONFIGS / "app.yaml").uncertain)
    folder = tmp_path_factory.mktemp("examples")
    page = build_page(classifier, make_examples(folder, classifier.rendering), uncertainty)
    # port=None: the first free one from 7860, so parallel sessions on one machine do not collide
    url = launch(page, port=None, max_upload_mb=APP_MAX_UPLOAD_MB, allowed_paths=[folder], block=False)
    yield Served(url, classifier, uncertainty)
    page.close()


# the explanation tests' model (tests/explain): resnet18 at 64 px on three demo genres, where Rock alone
# carries a bright horizontal band at a fixed height (a quarter of the image: one row of layer3's 4 x 4 cells
# at 64 px)
CUE_GENRES = ["Classical", "Electronic", "Rock"]
CUE_GENRE = "Rock"
# the cue's rows in the 64 px model input (time_crop keeps every row): the second of four bands
CUE = slice(16, 32)


@pytest.fixture(scope="session")
def cue_run(demo_root, tmp_path_factory):
    """A finished 2-fold run on three demo genres, Rock's images with the band painted in magma's
    brightest colour: the run folder and the images' root."""
    folder = built_once(tmp_path_factory, "cue", lambda folder: paint_and_train_cue(demo_root, folder))
    return folder / "run", folder / "spectrograms"


def paint_and_train_cue(demo_root: Path, folder: Path) -> None:
    root = folder / "spectrograms"
    for genre in CUE_GENRES:
        (root / genre).mkdir(parents=True)
        for path in sorted((demo_root / genre).glob("*.jpg")):
            pixels = np.asarray(Image.open(path).convert("RGB")).copy()
            if genre == CUE_GENRE:
                # the model input's rows 16-31 of 64 are the image's rows 18-35 of 72
                scale = pixels.shape[0] / 64
                pixels[round(CUE.start * scale) : round(CUE.stop * scale)] = (252, 253, 191)
            Image.fromarray(pixels).save(root / genre / f"{path.stem}.png")
    from genre_lightning.training.kfold import train

    overrides = [
        *TINY,
        f"data.root={root}",
        f"data.classes=[{','.join(CUE_GENRES)}]",
        "data/transforms=time_crop",
        "data.transforms.crop_width=48",
        # a quarter of resnet18's channels and AdamW: the cue is learnt in a few dozen steps
        "model.width=16",
        "model/optimizer=adamw",
        "model.optimizer.lr=0.003",
        "model/scheduler=none",
        "data.batch_size=8",
        "trainer.max_epochs=8",
        *NO_FIGURES,
    ]
    train(compose_train(overrides, folder / "run"))


# the fold sweep of fold_sweep: 8 images per genre (2 held out, 3 per fold, so each job trains in a second
# or two), ranked by the validation loss (continuous, so never tied)
FOLD_SWEEP = [
    *TINY,
    "data.max_per_class=8",
    "data.fold=0,1",
    "optimized_metric=val/loss_mean",
    "hydra.callbacks.sweep_summary.direction=minimize",
]


@pytest.fixture(scope="session")
def fold_sweep(demo_root, tmp_path_factory) -> tuple[Path, str]:
    """`python train.py -m FOLD_SWEEP`: its 2 fold jobs run in parallel by submitit's local executor, for
    the sweep tests (tests/training/test_sweeps.py) and as the SLURM tests' reference (tests/cluster).
    Returns the sweep folder and what train.py printed."""

    def build(folder: Path) -> None:
        proc = subprocess.run(
            [sys.executable, "train.py", "-m", *FOLD_SWEEP, f"data.root={demo_root}", "hydra/launcher=local",
             f"hydra.sweep.dir={folder / 'sweep'}", f"paths.log_dir={folder}"],
            cwd=ROOT, capture_output=True, text=True, timeout=900,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        (folder / "stdout.txt").write_text(proc.stdout)

    folder = built_once(tmp_path_factory, "folds", build)
    return folder / "sweep", (folder / "stdout.txt").read_text()
