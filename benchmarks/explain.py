"""Seconds per image and per 30-s song for explain=true's map (Grad-CAM) and band and segment shares
(occlusion), with the load average they were taken at (docs/predicting.md).

    python benchmarks/explain.py ckpt=logs/train/runs/<run> images=/work/shared/fma_small_dev count=64
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import numpy as np
import soundfile
import torch
from omegaconf import OmegaConf

from genre_lightning.constants import IMAGE_EXTENSIONS
from genre_lightning.demo.synth import synthesize
from genre_lightning.explain.attribution import grad_cam
from genre_lightning.explain.explainer import configured
from genre_lightning.files import files_below
from genre_lightning.predict.ensemble import Ensemble, find_checkpoints

ROOT = Path(__file__).resolve().parents[1]


def timed(call) -> float:
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


def main(ckpt: str, images: str, count: str = "64") -> None:
    ensemble = Ensemble(find_checkpoints(ckpt, ROOT / "logs/train/runs"), precision="32")
    explainer = configured(OmegaConf.load(ROOT / "configs/explanation/default.yaml"), ensemble)
    inputs = [ensemble.preprocess(path) for path in files_below(images, IMAGE_EXTENSIONS)[: int(count)]]
    genres = [0] * len(inputs)
    batch = torch.stack(inputs).float()
    cam = timed(lambda: grad_cam(ensemble.models, explainer.layer, batch, torch.tensor(genres)))
    both = timed(lambda: explainer.explain(inputs, genres, [None] * len(inputs), [None] * len(inputs)))
    print(
        f"{len(inputs)} images {tuple(inputs[0].shape)}, {len(ensemble.models)} model(s), {explainer.layer}"
    )
    print(f"per image: map {cam / len(inputs):.3f} s, map and shares {both / len(inputs):.3f} s")
    rendering = ensemble.rendering()[0]
    audio = synthesize("Rock", np.random.default_rng(0), 30.0, rendering.spec.sample_rate)
    path = Path(os.environ.get("TMPDIR", "/tmp")) / "explain_song.wav"
    soundfile.write(path, audio, rendering.spec.sample_rate)
    song, spans = ensemble.preprocess_audio(path, rendering)
    sizes = [(rendering.spec.width, rendering.spec.height)] * len(song)
    seconds = timed(lambda: explainer.explain(song, [0] * len(song), sizes, spans))
    print(f"per 30-s song ({len(song)} window(s)): map and shares {seconds:.3f} s")
    print("load average", " ".join(f"{load:.1f}" for load in os.getloadavg()))


if __name__ == "__main__":
    main(**dict(arg.split("=", 1) for arg in sys.argv[1:]))
