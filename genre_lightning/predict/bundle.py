"""Trained checkpoints -> the bundled model's files in genre_lightning/pretrained/ (docs/model_card.md).

    python -m genre_lightning.predict.bundle logs/benchmarks/<run>/fold_0/checkpoints/best.ckpt
    python -m genre_lightning.predict.bundle <run>/fold_1/checkpoints/best.ckpt \\
        <run>/fold_3/checkpoints/best.ckpt --rendering configs/rendering/fma_small.yaml

Each checkpoint is read as prediction reads one (predict/checkpoint.py: data only) and written back with
what prediction reads and nothing else: the weights in int8 and fp16 (pretrained/int8.py: a quarter of the
bytes; tests/predict/test_bundled.py checks that predictions match fp32's) and the hyperparameters
prediction uses. ``--rendering`` records how
songs are rendered for a model trained on a folder that did not say (no spectrogram.json, no
data.rendering). Earlier bundled files are replaced.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from omegaconf import OmegaConf

from genre_lightning.audio.rendering import Rendering
from genre_lightning.files import atomic_path
from genre_lightning.predict.checkpoint import read_checkpoint
from genre_lightning.pretrained import FOLDER as PRETRAINED
from genre_lightning.pretrained import NAME, bundled_checkpoints
from genre_lightning.pretrained.int8 import SCALES, quantize


def bundled(path: Path, rendering: dict | None) -> dict:
    """The checkpoint's prediction hyperparameters and its weights stored small (int8.quantize; the integer
    counters as they are)."""
    hparams, state_dict = read_checkpoint(path)
    if rendering is not None:
        hparams["preprocessing"] = {**hparams["preprocessing"], "spectrogram": rendering}
    weights, scales = quantize(state_dict)
    return {"hyper_parameters": hparams, "state_dict": weights, SCALES: scales}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoints", type=Path, nargs="+", help="best.ckpt files of one run")
    parser.add_argument("--rendering", type=Path, help="a configs/rendering/*.yaml file to record")
    args = parser.parse_args(argv)
    rendering = None
    if args.rendering is not None:
        rendering = Rendering.from_dict(OmegaConf.to_container(OmegaConf.load(args.rendering))).to_dict()
    for old in bundled_checkpoints():
        old.unlink()
    for index, path in enumerate(args.checkpoints):
        name = f"{NAME}.ckpt" if len(args.checkpoints) == 1 else f"{NAME}-{index}.ckpt"
        with atomic_path(PRETRAINED / name) as tmp:
            torch.save(bundled(path, rendering), tmp)
        print(f"{path} -> {PRETRAINED / name} ({(PRETRAINED / name).stat().st_size / 2**20:.1f} MiB)")


if __name__ == "__main__":
    main()
