"""Spectrogram image folders: discovery, the held-out test split, k folds, and the loaders."""

from __future__ import annotations

import functools
import logging
import os
import random
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import lightning.pytorch as pl
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from PIL import Image, UnidentifiedImageError
from torch.utils.data import DataLoader, Dataset

from genre_lightning.audio_images import MARKER as RENDERING_MARKER
from genre_lightning.audio_images import read_marker
from genre_lightning.demo_data import make_demo_dataset
from genre_lightning.errors import UserError

log = logging.getLogger(__name__)

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png")
_WINDOW_SUFFIX = re.compile(r"-\d{3}$")


def load_image(path: str | os.PathLike, min_size: int | None = None) -> Image.Image:
    """Decode an image to RGB, reduced by the largest factor that keeps its short side >= min_size.

    JPEGs are decoded straight to 1/2, 1/4 or 1/8 scale from the DCT coefficients (libjpeg's draft
    mode), which skips most of the work: a 1984x1478 spectrogram that the model sees at 224 px
    decodes at 496x370 in a quarter of the time. Other formats are decoded in full, then box-reduced
    by a whole factor in the same way.
    """
    try:
        image = Image.open(path)
        if min_size is None:
            return image.convert("RGB")
        # draft keeps each side >= the size asked for, so a square bounds the short side; a no-op but for JPEG
        image.draft("RGB", (min_size, min_size))
        image = image.convert("RGB")
        factor = min(image.size) // min_size
        return image.reduce(factor) if factor > 1 else image
    except (OSError, UnidentifiedImageError) as err:
        raise UserError(f"{path}: cannot read the image ({err}); remove or re-export the file") from None


class ImageFiles(Dataset):
    """(uint8 image tensor, label) pairs from a list of files; `read` turns a path into an RGB image."""

    def __init__(self, files: list[str], labels: list[int], transform, read):
        self.files, self.labels, self.transform, self.read = files, labels, transform, read

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int):
        return self.transform(self.read(self.files[index])), self.labels[index]


def discover(root: str | os.PathLike, classes: list[str] | None) -> tuple[list[str], dict[str, list[str]]]:
    """Return the class names and each class's image files (sorted), checking the layout."""
    root = Path(root)
    if not root.is_dir():
        raise UserError(
            f"{root}: dataset folder not found; expected {root}/<Genre>/*.jpg "
            "(set data.root=..., or run experiment=demo for the synthetic demo set)"
        )
    found = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if classes is None:
        classes = found
    unknown = [c for c in classes if c not in found]
    if unknown:
        raise UserError(f"{root}: no folder for genre(s) {unknown}; found {found or 'no genre folders'}")
    if len(classes) < 2:
        raise UserError(f"{root}: need at least two genre folders, found {found}")
    files = {}
    for name in classes:
        files[name] = sorted(
            str(p)
            for p in (root / name).iterdir()
            if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in IMAGE_EXTENSIONS
        )
    empty = [name for name, paths in files.items() if not paths]
    if empty:
        counts = {name: len(paths) for name, paths in files.items()}
        raise UserError(f"{root}: genre folder(s) {empty} hold no .jpg/.jpeg/.png images; counts: {counts}")
    return list(classes), files


@dataclass(frozen=True)
class Split:
    """File lists of the held-out test set and the k folds (labels are class indices)."""

    classes: list[str]
    test: list[tuple[str, int]]
    folds: list[list[tuple[str, int]]]

    def train_val(self, fold: int) -> tuple[list[tuple[str, int]], list[tuple[str, int]]]:
        train = [item for k, part in enumerate(self.folds) if k != fold for item in part]
        return train, self.folds[fold]

    @property
    def items(self) -> list[tuple[str, int]]:
        """Every (file, label) pair: the test set, then the folds."""
        return [item for part in [self.test, *self.folds] for item in part]

    def to_dict(self) -> dict:
        return {"classes": self.classes, "test": self.test, "folds": self.folds}


def make_split(
    files: dict[str, list[str]],
    test_fraction: float,
    num_folds: int,
    seed: int,
    max_per_class: int | None = None,
    group: Callable[[str], str] | None = None,
) -> Split:
    """Stratified, seeded split: per genre, a test share, then the rest dealt round-robin into folds.

    `group` maps a file to its song: the windows of one song then stay together in one part, so no
    song is both trained on and evaluated. Shares and `max_per_class` count songs.
    """
    rng = random.Random(seed)
    classes = list(files)
    test, folds = [], [[] for _ in range(num_folds)]
    for label, name in enumerate(classes):
        songs: dict[str, list[str]] = {}
        for path in files[name]:
            songs.setdefault(group(path) if group else path, []).append(path)
        members = list(songs.values())
        rng.shuffle(members)
        if max_per_class is not None:
            members = members[:max_per_class]
        n_test = round(len(members) * test_fraction)
        if len(members) - n_test < num_folds:
            raise UserError(
                f"genre {name!r} has {len(members)} {'songs' if group else 'images'}: too few for a "
                f"{test_fraction:.0%} test split and {num_folds} folds; add images or lower data.num_folds"
            )
        test += [(p, label) for song in members[:n_test] for p in song]
        for i, song in enumerate(members[n_test:]):
            folds[i % num_folds] += [(p, label) for p in song]
    return Split(classes, test, folds)


def song_of(path: str) -> str:
    """The song a window image belongs to: build_dataset names windows <song>-000.jpg, <song>-001.jpg..."""
    stem = Path(path).with_suffix("").as_posix()
    return _WINDOW_SUFFIX.sub("", stem)


class SpectrogramDataModule(pl.LightningDataModule):
    """Genre folders of spectrogram images, a held-out test split and k stratified folds."""

    def __init__(
        self,
        root: str,
        classes: list[str] | None = None,
        max_per_class: int | None = None,
        test_fraction: float = 0.2,
        num_folds: int = 5,
        fold: int | None = None,
        seed: int = 123,
        demo: bool = False,
        batch_size: int = 32,
        num_workers: int = 2,
        persistent_workers: bool = True,
        pin_memory: bool = False,
        cache: bool = False,
        cache_dir: str | None = None,
        image_size: int = 224,
        resize_size: int = 256,
        train_transform: DictConfig | dict | None = None,
        eval_transform: DictConfig | dict | None = None,
    ):
        super().__init__()
        if num_folds < 2:
            raise UserError(f"data.num_folds={num_folds}: k-fold cross-validation needs at least 2 folds")
        if fold is not None and not 0 <= fold < num_folds:
            raise UserError(f"data.fold={fold}: must be in 0..{num_folds - 1} (data.num_folds={num_folds})")
        self.root = Path(root)
        self.classes = list(classes) if classes is not None else None
        self.max_per_class, self.test_fraction, self.num_folds = max_per_class, test_fraction, num_folds
        self.fold, self.seed, self.demo = fold if fold is not None else 0, seed, demo
        self.batch_size, self.num_workers, self.pin_memory = batch_size, num_workers, pin_memory
        self.persistent_workers = persistent_workers
        self.cache = cache
        self.cache_dir = Path(cache_dir) if cache_dir is not None else self.root.parent / ".cache"
        # One decode size for training and evaluation: short side >= resize_size. For the real 1984x1478
        # spectrograms that is libjpeg's 1/4 scale (496x370), where even RandomResizedCrop's smallest crops
        # (35% of the area, aspect 3:4 to 4:3) span >= 219 px, so a 224 px input is never upsampled
        # more than 2%; a 1/2-scale decode would take twice the time and four times the cache for no
        # detail the picture holds (it has 128 mel bands from top to bottom).
        self.resize_size = resize_size
        # kept as plain containers: they go into checkpoints so prediction rebuilds the same preprocessing
        self.eval_transform_cfg = _container(eval_transform)
        self.train_transform = instantiate(train_transform)
        self.eval_transform = instantiate(eval_transform)
        self.split: Split | None = None
        self.read = None  # path -> RGB image, decoded or from the cache; set by setup()

    def prepare_data(self) -> None:
        # an existing folder is left alone: a demo set made with other settings (or a test's) stays
        if self.demo and not self.root.exists():
            make_demo_dataset(self.root)
        if self.cache:
            # built here, on the one process that prepares data; setup() on the others finds it ready
            self.setup()

    def setup(self, stage: str | None = None) -> None:
        if self.split is None:
            classes, files = discover(self.root, self.classes)
            # folders made by build_dataset may hold several windows per song: split by song
            group = song_of if (self.root / RENDERING_MARKER).is_file() else None
            self.split = make_split(files, self.test_fraction, self.num_folds, self.seed, self.max_per_class, group)
            counts = Counter(label for _, label in self.split.items)
            log.info("classes: %s", {name: counts[i] for i, name in enumerate(classes)})
        if self.read is None and self.cache:
            from genre_lightning.cache import decoded_images  # not at the top: cache.py imports this module

            files = [path for path, _ in self.split.items]
            self.read = decoded_images(files, self.resize_size, self.cache_dir, self.num_workers)
        elif self.read is None:
            self.read = functools.partial(load_image, min_size=self.resize_size)

    @property
    def class_names(self) -> list[str]:
        self.setup()
        return self.split.classes

    @property
    def preprocessing(self) -> dict:
        """Everything a checkpoint needs to turn an image file, or a song rendered as the images were, into model input."""
        rendering = read_marker(self.root)
        return {
            "transform": self.eval_transform_cfg,
            "min_size": self.resize_size,
            # None when the folder does not say how its images were made; prediction then assumes the published spec
            "spectrogram": rendering.to_dict() if rendering else None,
        }

    def loader(self, items: list[tuple[str, int]], train: bool) -> DataLoader:
        """A DataLoader over (file, label) pairs with this module's decoding, transforms and settings."""
        self.setup()
        files, labels = [p for p, _ in items], [y for _, y in items]
        transform = self.train_transform if train else self.eval_transform
        return DataLoader(
            ImageFiles(files, labels, transform, self.read),
            batch_size=self.batch_size,
            shuffle=train,
            drop_last=train and len(files) > self.batch_size,
            num_workers=self.num_workers,
            pin_memory=self.pin_memory,
            persistent_workers=self.persistent_workers and self.num_workers > 0,
        )

    def train_dataloader(self) -> DataLoader:
        return self.loader(self.split.train_val(self.fold)[0], train=True)

    def val_dataloader(self) -> DataLoader:
        return self.loader(self.split.train_val(self.fold)[1], train=False)

    def test_dataloader(self) -> DataLoader:
        return self.loader(self.split.test, train=False)


def _container(cfg):
    return OmegaConf.to_container(cfg, resolve=True) if isinstance(cfg, DictConfig) else cfg
