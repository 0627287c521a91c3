"""Checkpoints read as data: the trained model rebuilt by this code from plain values, never from a name the
file holds.

A checkpoint may hold the weights (the temperature among them), and in its hyperparameters the class
names, the network's shape and plain preprocessing values. torch.load(weights_only=True) unpickles tensors
and containers only; of the hyperparameters, only the keys below are read, and a mapping there that names a
callable (``_target_``...) is refused, as Hydra would call it.
"""

from __future__ import annotations

import os
import pickle
import zipfile
from pathlib import Path

import torch

from genre_lightning.audio.rendering import Rendering
from genre_lightning.data import presets
from genre_lightning.data.trim import check_trim
from genre_lightning.errors import UserError
from genre_lightning.models.classifier import GenreClassifier
from genre_lightning.pretrained.int8 import SCALES, dequantize

# the hyperparameters prediction reads, and the type each must have (the rest, such as the optimizer and
# scheduler configs, belongs to training and is never read)
HPARAMS = {
    "class_names": list,
    "arch": str,
    "dropout": (int, float),
    "mean": (list, tuple),
    "std": (list, tuple),
    "in_channels": int,
    "width": int,
    "preprocessing": dict,
}
REQUIRED = ("class_names", "preprocessing")
PREPROCESSING = {"transform": dict, "min_size": int}  # and "spectrogram", a dict or None, if recorded
# keys that make Hydra call code, in any mapping it is handed
CALLABLE_KEYS = ("_target_", "_partial_", "_args_")
PLAIN = (str, int, float, bool, type(None))


def read_checkpoint(path: str | os.PathLike) -> tuple[dict, dict]:
    """The checked hyperparameters prediction uses (preprocessing["transform"] as preset settings) and the
    state dict; a one-line UserError naming the file for anything else."""
    path = Path(path)
    if not path.is_file():
        raise UserError(
            f"{path}: checkpoint not found; pass ckpt=<run folder>, <fold>/checkpoints/best.ckpt or latest"
        )
    if not zipfile.is_zipfile(path):  # torch.save writes a zip archive: its end is read first
        raise UserError(
            f"{path}: not a genre-lightning checkpoint (not a torch.save archive: truncated, or another "
            "format); pass a best.ckpt written by train.py"
        )
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:  # what weights_only refuses: an object to rebuild by calling code
        raise UserError(
            f"{path}: not a genre-lightning checkpoint (it holds objects other than tensors and plain "
            "values, left unloaded); a checkpoint must be data: use one written by train.py"
        ) from None
    except Exception as err:  # a damaged archive fails anywhere inside torch.load
        reason = str(err).strip().splitlines()[0] if str(err).strip() else ""
        raise UserError(
            f"{path}: not a genre-lightning checkpoint ({err.__class__.__name__}: {reason}); "
            "pass a best.ckpt written by train.py"
        ) from None
    try:
        hparams = _hparams(state)
        weights = dequantize(state["state_dict"], state.get(SCALES, {}))  # the bundled files' int8 weights
    except ValueError as err:
        raise UserError(f"{path}: {err}; a checkpoint must be data: use one written by train.py") from None
    for name, tensor in weights.items():
        if tensor.is_floating_point() and not torch.isfinite(tensor).all():
            raise UserError(
                f"{path}: its weight {name} holds NaN or infinite values (the training diverged), so "
                "every probability would be NaN; train again (a lower model.optimizer.lr), or pass another "
                "checkpoint"
            )
    return hparams, weights


def _hparams(state) -> dict:
    weights = state.get("state_dict") if isinstance(state, dict) else None
    if not isinstance(weights, dict) or not all(isinstance(w, torch.Tensor) for w in weights.values()):
        raise ValueError("not a genre-lightning checkpoint (no state_dict of tensors)")
    stored = state.get("hyper_parameters")
    if not isinstance(stored, dict) or any(key not in stored for key in REQUIRED):
        raise ValueError(f"not a genre-lightning checkpoint (hyper_parameters lack {', '.join(REQUIRED)})")
    hparams = {key: stored[key] for key in HPARAMS if key in stored}
    preprocessing = hparams["preprocessing"]
    _check_plain("hyper_parameters", hparams)
    for key, value in hparams.items():
        _check_type(key, value, HPARAMS[key])
    for key, kind in PREPROCESSING.items():
        _check_type(f"preprocessing.{key}", preprocessing.get(key), kind)
    _check_type("preprocessing.spectrogram", preprocessing.get("spectrogram"), (dict, type(None)))
    for name in hparams["class_names"]:
        _check_type("class_names[]", name, str)
    if not presets.VALUES["resize_size"][0](preprocessing["min_size"]):  # the decode size: a positive int
        raise ValueError(f"unusable preprocessing (min_size {preprocessing['min_size']!r})")
    usual = preprocessing.get("trim_usual", [])  # [width, height, *box] per image size
    if not isinstance(usual, list) or not all(
        isinstance(row, list) and len(row) == 6 and all(type(v) is int for v in row) for row in usual
    ):
        raise ValueError("unusable preprocessing (trim_usual is not a list of [width, height, *box])")
    try:
        presets.build(preprocessing["transform"], train=False, prefix="preprocessing.transform.")
        check_trim(preprocessing.get("trim", "off"), "preprocessing.trim")
        if preprocessing.get("spectrogram") is not None:  # how songs are rendered for this model
            Rendering.from_dict(preprocessing["spectrogram"])
    except (UserError, ValueError, TypeError) as err:
        raise ValueError(f"unusable preprocessing ({' '.join(str(err).split())})") from None
    return hparams


def _check_type(key: str, value, kind) -> None:
    if not isinstance(value, kind) or isinstance(value, bool) and kind in (int, (int, float)):
        raise ValueError(f"not a genre-lightning checkpoint ({key} is a {type(value).__name__})")


def _check_plain(where: str, value) -> None:
    """ValueError for anything but str, numbers, bools, None and lists and str-keyed dicts of them, and for
    a mapping that names a callable."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key in CALLABLE_KEYS:
                raise ValueError(f"holds a callable name ({where}.{key} = {repr(item)[:80]})")
            if not isinstance(key, str):
                raise ValueError(f"not a genre-lightning checkpoint ({where} has a {type(key).__name__} key)")
            _check_plain(f"{where}.{key}", item)
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            _check_plain(f"{where}[{i}]", item)
    elif not isinstance(value, PLAIN):
        raise ValueError(f"not a genre-lightning checkpoint ({where} is a {type(value).__name__})")


def load_classifier(ckpt: str | os.PathLike, device: torch.device | str = "cpu") -> GenreClassifier:
    """The trained model in eval mode, built from the checkpoint's checked values; its hyperparameters
    carry class names and preprocessing."""
    hparams, state_dict = read_checkpoint(ckpt)
    try:
        # weights=None: the trained weights replace ImageNet's, so never fetch those here
        model = GenreClassifier(**hparams, weights=None)
        model.load_state_dict(state_dict)
    except (UserError, RuntimeError, ValueError, KeyError, TypeError) as err:  # values no model has
        reason = " ".join(str(err).split())[:300]
        raise UserError(
            f"{ckpt}: not a genre-lightning checkpoint ({err.__class__.__name__}: {reason}); "
            "pass a best.ckpt written by train.py"
        ) from None
    return model.to(device, memory_format=torch.channels_last).eval()
