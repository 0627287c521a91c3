"""Transform presets: per family of transforms, a train preset and an eval preset with keyword-only values
(as torchvision's references/classification/presets.py), chosen from FAMILIES by name.

Settings are plain data, ``{"transforms": <family>, <value>: ...}``, with the names of the data.* config
keys. A checkpoint stores its eval preset's settings, and prediction rebuilds the preset from them with
this code: nothing in a settings dict names code to import.

Every preset turns the image into a uint8 tensor first (torchvision resizes uint8 tensors ~3x faster than
PIL images); scaling and ImageNet normalisation happen inside the model, on the accelerator, so loaders
move 4x fewer bytes and exports carry them.
"""

from __future__ import annotations

import inspect
from typing import NoReturn

import matplotlib
from torchvision.transforms import v2

from genre_lightning.data.colormap import ColormapToMagnitude
from genre_lightning.data.transforms import TimeCrop
from genre_lightning.errors import UserError


class ResizedCropTrain(v2.Compose):
    """RandomResizedCrop to image_size x image_size: an area share of crop_scale..1, aspect 3:4..4:3."""

    def __init__(self, *, image_size: int, crop_scale: float):
        crop = v2.RandomResizedCrop(image_size, scale=(crop_scale, 1.0), ratio=(0.75, 1.333))
        super().__init__([v2.PILToTensor(), crop])


class ResizedCropEval(v2.Compose):
    """The short side resized to resize_size, the centre image_size x image_size kept."""

    def __init__(self, *, image_size: int, resize_size: int):
        super().__init__([v2.PILToTensor(), v2.Resize(resize_size), v2.CenterCrop(image_size)])


class TimeCropTrain(v2.Compose):
    """image_size high (every frequency), a crop_width slice at a random time; with a colormap, pixels
    mapped back to one magnitude channel."""

    def __init__(self, *, image_size: int, crop_width: int, colormap: str | None = None):
        crop = TimeCrop(image_size, crop_width, train=True)
        super().__init__([v2.PILToTensor(), ColormapToMagnitude(colormap), crop])


class TimeCropEval(v2.Compose):
    """image_size high; the whole width (eval_width None), its centre eval_width, or eval_crops evenly
    spaced eval_width slices stacked (the model averages their logits)."""

    def __init__(
        self,
        *,
        image_size: int,
        eval_width: int | None = None,
        eval_crops: int = 1,
        colormap: str | None = None,
    ):
        crop = TimeCrop(image_size, eval_width, crops=eval_crops)
        super().__init__([v2.PILToTensor(), ColormapToMagnitude(colormap), crop])


# family name (data.transforms) -> (train preset, eval preset)
FAMILIES = {
    "resized_crop": (ResizedCropTrain, ResizedCropEval),
    "time_crop": (TimeCropTrain, TimeCropEval),
}


def _pixels(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


# what each value must be, said in the error when it is not
VALUES = {
    "image_size": (_pixels, "a positive whole number of pixels"),
    "resize_size": (_pixels, "a positive whole number of pixels"),
    "crop_width": (_pixels, "a positive whole number of pixels"),
    "eval_width": (
        lambda v: v is None or _pixels(v),
        "null (the whole width) or a positive number of pixels",
    ),
    "eval_crops": (_pixels, "a positive whole number"),
    "crop_scale": (
        lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and 0 < v <= 1,
        "a share of the image area above 0 and at most 1",
    ),
    "colormap": (
        lambda v: v is None or (isinstance(v, str) and v in matplotlib.colormaps),
        "null (RGB) or a matplotlib colormap name such as magma or viridis",
    ),
}


# the values that change nothing, for the ones a family may lack
NEUTRAL = {"colormap": None, "eval_width": None, "eval_crops": 1}


def build(settings: dict, train: bool, prefix: str = "data.") -> v2.Compose:
    """The train or eval preset of ``settings["transforms"]``, from the values of ``settings`` it takes; its
    own settings (plain data) in ``.settings``. A family or value it cannot use is a one-line UserError
    naming the key as ``prefix + key``."""
    family = settings.get("transforms")
    if not isinstance(family, str) or family not in FAMILIES:
        _reject(
            f"{prefix}transforms", f"unknown transform family {family!r}; use one of {', '.join(FAMILIES)}"
        )
    preset = FAMILIES[family][0 if train else 1]
    parameters = inspect.signature(preset).parameters
    # a value only another family uses, set to anything but its neutral one, would be ignored in silence
    for name, neutral in NEUTRAL.items():
        if name not in _used(family) and settings.get(name, neutral) != neutral:
            others = [other for other in FAMILIES if name in _used(other)]
            leave = "null" if neutral is None else neutral
            _reject(
                prefix + name,
                f"{settings[name]!r} acts only with transforms {' or '.join(others)} "
                f"(this run has {family}); "
                f"add {prefix.rstrip('.')}/transforms={others[0]}, or leave {prefix}{name} {leave}",
            )
    missing = [name for name, p in parameters.items() if p.default is p.empty and name not in settings]
    if missing:
        _reject(f"{prefix}transforms", f"{family} needs {', '.join(prefix + name for name in missing)}")
    values = {name: settings[name] for name in parameters if name in settings}
    for name, value in values.items():
        ok, what = VALUES[name]
        if not ok(value):
            _reject(prefix + name, f"{value!r} is not {what}")
    if values.get("eval_crops", 1) > 1 and "eval_width" in values and values["eval_width"] is None:
        _reject(
            f"{prefix}eval_crops",
            f"{values['eval_crops']} test-time crops of the whole width are one crop; "
            f"set {prefix}eval_width to a crop width, or {prefix}eval_crops to 1",
        )
    built = preset(**values)
    built.settings = {"transforms": family, **values}
    return built


def _used(family: str) -> set[str]:
    """The values the family's two presets take."""
    return {name for preset in FAMILIES[family] for name in inspect.signature(preset).parameters}


def _reject(key: str, reason: str) -> NoReturn:
    raise UserError(f"{key}: {reason}; fix {key}")
