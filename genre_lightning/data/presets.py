"""Transform presets: per family of transforms, a train preset and an eval preset with keyword-only values
(as torchvision's references/classification/presets.py), chosen from FAMILIES by name. Each preset holds
its steps as named parts (``to_tensor``, ``crop``...) and is called on one image.

Settings are plain data, ``{"transforms": <family>, <value>: ...}``; in the config the family's own values
sit under data.transforms (configs/data/transforms/<family>.yaml), so another family's cannot be set, and
image_size and resize_size, which the scan and the decoding use too, under data. A checkpoint stores its
eval preset's settings, and prediction rebuilds the preset from them with this code: nothing in a
settings dict names code to import.

Every preset turns the image into a uint8 tensor first (torchvision resizes uint8 tensors ~3x faster than
PIL images); scaling and ImageNet normalisation happen inside the model, on the accelerator, so loaders
move 4x fewer bytes and exports carry them.

Each preset also has the batched form the DataModule's resident mode runs on the training device:
``before_crop`` (the deterministic steps before the crops, done once to the whole set), then a train
preset's ``train_batch`` (random crops of a batch) or an eval preset's ``eval_batch`` (the crops one image
at a time would get), the crop maths in genre_lightning/data/crops.py. The per-image presets are the
reference the batched forms are tested against.
"""

from __future__ import annotations

import inspect
from typing import NoReturn

import matplotlib
import torch
from torchvision.transforms import v2

from genre_lightning.data.colormap import ColormapToMagnitude
from genre_lightning.data.crops import (
    TimeCrop,
    by_size,
    column_slices,
    crop_resize,
    fit_height,
    random_resized_boxes,
    time_crop_starts,
)
from genre_lightning.errors import UserError


class _DecodedPixels:
    """The resized_crop family crops the decoded pixels as they are: nothing to do before its crops."""

    def before_crop(self, images: torch.Tensor) -> torch.Tensor:
        """The steps before the crops, done once to a set kept in memory (DataModule's resident)."""
        return images


class ResizedCropTrain(_DecodedPixels):
    """RandomResizedCrop to image_size x image_size: an area share of crop_scale..1, aspect 3:4..4:3."""

    def __init__(self, *, image_size: int, crop_scale: float):
        # PIL images become uint8 tensors; tensors (decoded on the device) pass through
        self.to_tensor = v2.PILToTensor()
        self.crop = v2.RandomResizedCrop(image_size, (crop_scale, 1.0), (0.75, 1.333))

    def __call__(self, image) -> torch.Tensor:
        return self.crop(self.to_tensor(image))

    def train_batch(
        self, images: torch.Tensor, sizes: torch.Tensor, generator: torch.Generator, narrowest: int
    ) -> torch.Tensor:
        """The crops of a batch after ``before_crop``, drawn per image from ``generator``, on its device."""
        boxes = random_resized_boxes(sizes, self.crop.scale, self.crop.ratio, generator)
        return crop_resize(images, boxes, self.crop.size)


class ResizedCropEval(_DecodedPixels):
    """The short side resized to resize_size, the centre image_size x image_size kept."""

    # whether the output keeps the image's width (images of different sizes then go in batches of one
    # size): every crop of this family is image_size square
    keeps_width = False

    def __init__(self, *, image_size: int, resize_size: int):
        self.to_tensor = v2.PILToTensor()
        self.resize = v2.Resize(resize_size)
        self.crop = v2.CenterCrop(image_size)

    def __call__(self, image) -> torch.Tensor:
        return self.resize_and_crop(self.to_tensor(image))

    def resize_and_crop(self, images: torch.Tensor) -> torch.Tensor:
        return self.crop(self.resize(images))

    def eval_batch(self, images: torch.Tensor, groups: list) -> torch.Tensor:
        """A batch after ``before_crop`` evaluated as one image at a time would be, by groups of one size."""
        return by_size(self.resize_and_crop, images, groups)


class _TimeCropPixels:
    """The time_crop family's parts: the colormap's magnitudes, then a TimeCrop; the steps before the crop
    (the magnitudes, every image resized to image_size high keeping its aspect) done once to a set kept in
    memory."""

    def __init__(self, crop: TimeCrop, colormap: str | None):
        self.to_tensor = v2.PILToTensor()
        self.to_magnitude = ColormapToMagnitude(colormap)
        self.crop = crop

    def __call__(self, image) -> torch.Tensor:
        return self.crop(self.to_magnitude(self.to_tensor(image)))

    def before_crop(self, images: torch.Tensor) -> torch.Tensor:
        """The steps before the crops, done once to a set kept in memory (DataModule's resident)."""
        return fit_height(self.to_magnitude(images), self.crop.height)


class TimeCropTrain(_TimeCropPixels):
    """image_size high (every frequency), a crop_width slice at a random time; with a colormap, pixels
    mapped back to one magnitude channel."""

    def __init__(self, *, image_size: int, crop_width: int, colormap: str | None = None):
        super().__init__(TimeCrop(image_size, crop_width, train=True), colormap)

    def train_batch(
        self, images: torch.Tensor, sizes: torch.Tensor, generator: torch.Generator, narrowest: int
    ) -> torch.Tensor:
        """The crops of a batch after ``before_crop`` (every image image_size high), each at a random time
        from ``generator``; ``narrowest``: the width of the set's narrowest image."""
        width, height = self.crop.width, self.crop.height
        starts = time_crop_starts(sizes[:, 1], width, generator)
        if narrowest >= width:  # slices of the resized pixels, exactly as TimeCrop cuts them
            return column_slices(images, starts, width)
        # images narrower than the crop are stretched to it, as TimeCrop does
        widths = sizes[:, 1:].float()
        scale = widths / widths.clamp(min=width)
        left = starts.unsqueeze(1) * scale
        boxes = torch.cat([left, torch.zeros_like(left), left + width * scale, sizes[:, :1].float()], dim=1)
        return crop_resize(images, boxes, (height, width))


class TimeCropEval(_TimeCropPixels):
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
        super().__init__(TimeCrop(image_size, eval_width, crops=eval_crops), colormap)

    @property
    def keeps_width(self) -> bool:
        """Whether the output keeps the image's width (eval_width null): then its size follows the image's."""
        return self.crop.width is None

    def eval_batch(self, images: torch.Tensor, groups: list) -> torch.Tensor:
        """A batch after ``before_crop`` evaluated as one image at a time would be, by groups of one size."""
        return by_size(self.crop, images, groups)


Preset = ResizedCropTrain | ResizedCropEval | TimeCropTrain | TimeCropEval

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
# the family's name, and the sizes under data that every family is handed whether it takes them or not
SHARED = {"transforms", "image_size", "resize_size"}


def build(settings: dict, train: bool, prefix: str = "data.", keys: dict[str, str] | None = None) -> Preset:
    """The train or eval preset of ``settings["transforms"]``, from the values of ``settings`` it takes; its
    own settings (plain data) in ``.settings``. A family or value it cannot use is a one-line UserError
    naming the key: ``keys[name]`` where given, else ``prefix + name``."""

    def key(name: str) -> str:
        return (keys or {}).get(name, prefix + name)

    family = settings.get("transforms")
    if not isinstance(family, str) or family not in FAMILIES:
        _reject(key("transforms"), f"unknown transform family {family!r}; use one of {', '.join(FAMILIES)}")
    preset = FAMILIES[family][0 if train else 1]
    parameters = inspect.signature(preset).parameters
    # a value only another family uses (set to anything but a neutral one), or no family's, would be
    # ignored in silence
    for name in sorted(settings.keys() - _used(family) - SHARED):
        if name in NEUTRAL and settings[name] == NEUTRAL[name]:
            continue
        others = [other for other in FAMILIES if name in _used(other)]
        if not others:
            _reject(key(name), f"no transform family takes {name}; remove {key(name)}")
        _reject(
            key(name),
            f"{settings[name]!r} acts only with transforms {' or '.join(others)} "
            f"(this run has {family}); remove {key(name)}, or choose transforms {others[0]}",
        )
    missing = [name for name, p in parameters.items() if p.default is p.empty and name not in settings]
    if missing:
        _reject(key("transforms"), f"{family} needs {', '.join(key(name) for name in missing)}")
    values = {name: settings[name] for name in parameters if name in settings}
    for name, value in values.items():
        ok, what = VALUES[name]
        if not ok(value):
            _reject(key(name), f"{value!r} is not {what}")
    if values.get("eval_crops", 1) > 1 and "eval_width" in values and values["eval_width"] is None:
        _reject(
            key("eval_crops"),
            f"{values['eval_crops']} test-time crops of the whole width are one crop; "
            f"set {key('eval_width')} to a crop width, or {key('eval_crops')} to 1",
        )
    built = preset(**values)
    built.settings = {"transforms": family, **values}
    return built


def _used(family: str) -> set[str]:
    """The values the family's two presets take."""
    return {name for preset in FAMILIES[family] for name in inspect.signature(preset).parameters}


def _reject(key: str, reason: str) -> NoReturn:
    raise UserError(f"{key}: {reason}; fix {key}")
