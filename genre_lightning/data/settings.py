"""The data settings (configs/data/spectrograms.yaml): one typed, validated record of every value the
DataModule takes, so a wrong value stops the run with one line naming its key before any file is read.

Each field's annotation is its rule for kind (checked by ``_check_kind``); ranges and the rules between
fields are in ``DataSettings.__post_init__``. Another key (``+data.foo=1``) is refused with the list of keys.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping, Sequence
from typing import Literal, Union

from genre_lightning.data.images import MAX_PIXELS
from genre_lightning.data.trim import check_trim
from genre_lightning.errors import UserError

# the kinds of value a config can hold, as a user reads them
_KIND_NAMES = {int: "a whole number", float: "a number", bool: "true or false", str: "a string"}


@dataclasses.dataclass(frozen=True, kw_only=True)
class DataSettings:
    """configs/data/spectrograms.yaml's values; the comments there say what each one does."""

    root: str
    classes: list[str] | None = None
    max_per_class: int | None = None
    test_fraction: float = 0.2
    num_folds: int = 5
    fold: int | None = None
    seed: int = 123
    prepare: Mapping | None = None
    batch_size: int = 32
    num_workers: int = 2
    persistent_workers: bool = True
    pin_memory: bool = False
    cache: bool = False
    cache_dir: str | None = None
    image_size: int = 224
    resize_size: int = 256
    transforms: Mapping | None = None
    batch_augment: list[Mapping] | None = None
    resident: bool | Literal["auto"] = "auto"
    resident_share: float = 0.5
    bad_files: Literal["error", "skip"] = "error"
    max_image_pixels: int = MAX_PIXELS
    # what decides the split besides the shares (data/drawing.py): duplicates, groups, a given split
    duplicates: Literal["error", "first", "drop"] = "error"
    groups: str | None = None
    groups_missing: Literal["error", "own"] = "error"
    split: str | None = None
    folds: Literal["drawn", "given"] = "drawn"
    trim: Literal["auto", "off"] | list[int] = "auto"
    # a teacher's probabilities per training image (data/soft_labels.py), the training targets
    soft_labels: str | None = None
    # how the images were rendered from songs (configs/rendering/), for a folder without spectrogram.json
    rendering: Mapping | None = None

    @classmethod
    def from_config(cls, values: Mapping) -> DataSettings:
        """The settings from the data config's keys (``_target_`` and Hydra's own keys already taken out)."""
        names = [field.name for field in dataclasses.fields(cls)]
        unknown = [key for key in values if key not in names]
        if unknown:
            raise UserError(f"data.{unknown[0]}: no such data setting; the data keys are {', '.join(names)}")
        if "root" not in values:
            raise UserError("data.root is missing: set data.root=<folder of genre folders>")
        return cls(**values)

    def __post_init__(self):
        hints = typing.get_type_hints(type(self))
        for field in dataclasses.fields(self):
            _check_kind(field.name, getattr(self, field.name), hints[field.name])
        for key, least in (
            ("num_folds", 2),
            ("batch_size", 1),
            ("num_workers", 0),
            ("image_size", 1),
            ("resize_size", 1),
            ("max_per_class", 1),
            ("max_image_pixels", 1),
        ):
            value = getattr(self, key)
            if value is not None and value < least:
                why = "k-fold cross-validation needs at least 2 folds" if key == "num_folds" else None
                raise UserError(f"data.{key}={value}: {why or f'must be a whole number >= {least}'}")
        if self.fold is not None and not 0 <= self.fold < self.num_folds:
            raise UserError(
                f"data.fold={self.fold}: must be in 0..{self.num_folds - 1} (data.num_folds={self.num_folds})"
            )
        if not 0 <= self.test_fraction < 1:
            raise UserError(
                f"data.test_fraction={self.test_fraction}: the share of each genre held out for testing must "
                "be at least 0 and below 1"
            )
        if self.max_per_class is not None and (self.groups or self.split):
            raise UserError(
                "data.max_per_class subsamples per genre, which a data.groups or data.split would break; "
                "set data.max_per_class=null, or subsample the files of the split"
            )
        if not 0 < self.resident_share <= 1:
            raise UserError(
                f"data.resident_share={self.resident_share!r}: a share of the free memory, above 0 and at "
                "most 1; fix data.resident_share"
            )

        check_trim(self.trim)  # a box: four pixels, right of left and below top

    @property
    def selected_folds(self) -> list[int]:
        """The folds this run trains: all of them, or the one ``fold`` names."""
        return list(range(self.num_folds)) if self.fold is None else [self.fold]


def _check_kind(key: str, value, kind) -> None:
    if not _is_kind(value, kind):
        raise UserError(f"data.{key}={value!r}: must be {_kind_name(kind)}; fix data.{key}")


def _is_kind(value, kind) -> bool:
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin in (Union, types.UnionType):
        return any(_is_kind(value, arg) for arg in args)
    if origin is Literal:
        return any(value == arg and type(value) is type(arg) for arg in args)
    if origin is list:
        is_list = isinstance(value, Sequence) and not isinstance(value, str)
        return is_list and all(_is_kind(item, args[0]) for item in value)
    if kind is type(None):
        return value is None
    if kind is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, kind)


def _kind_name(kind) -> str:
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin in (Union, types.UnionType):
        return " or ".join(_kind_name(arg) for arg in args)
    if origin is Literal:
        return ", ".join(str(arg) for arg in args)
    if origin is list:
        return {str: "a list of names", int: "a list of whole numbers"}.get(args[0], "a list of configs")
    if kind is type(None):
        return "null"
    if kind is Mapping:
        return "a mapping of keys to values"
    return _KIND_NAMES.get(kind, kind.__name__)
