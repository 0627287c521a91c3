"""The LightningDataModule: a genre-folder dataset, its split, the fold being trained, and the loaders."""

from __future__ import annotations

import functools
import logging
from collections import Counter
from pathlib import Path

import lightning.pytorch as pl
from omegaconf import DictConfig
from torch.utils.data import DataLoader

from genre_lightning.audio.rendering import read_marker
from genre_lightning.constants import RENDERING_MARKER
from genre_lightning.data import presets
from genre_lightning.data.cache import decoded_images
from genre_lightning.data.images import MAX_PIXELS, ImageFiles, load_image
from genre_lightning.data.scan import BadImages, bad_images, check_policy
from genre_lightning.data.splits import Split, discover, make_split, song_of
from genre_lightning.errors import UserError, build

log = logging.getLogger(__name__)


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
        prepare: DictConfig | dict | None = None,
        batch_size: int = 32,
        num_workers: int = 2,
        persistent_workers: bool = True,
        pin_memory: bool = False,
        cache: bool = False,
        cache_dir: str | None = None,
        image_size: int = 224,
        resize_size: int = 256,
        crop_scale: float = 0.35,
        crop_width: int | None = None,
        eval_width: int | None = None,
        eval_crops: int = 1,
        colormap: str | None = None,
        batch_augment: list | None = None,
        transforms: str = "resized_crop",
        bad_files: str = "error",
        max_image_pixels: int = MAX_PIXELS,
    ):
        super().__init__()
        # a value of the wrong kind (data.batch_size=abc) is named before any code compares it
        whole = {"num_folds": num_folds, "seed": seed, "batch_size": batch_size, "num_workers": num_workers}
        optional = {"fold": fold, "max_per_class": max_per_class}
        for key, value in {**whole, **optional, "test_fraction": test_fraction}.items():
            kinds = (int, float) if key == "test_fraction" else int
            if not (
                isinstance(value, kinds) and not isinstance(value, bool) or key in optional and value is None
            ):
                kind = "a number" if key == "test_fraction" else "a whole number"
                raise UserError(f"data.{key}={value!r}: must be {kind}; fix data.{key}")
        if num_folds < 2:
            raise UserError(f"data.num_folds={num_folds}: k-fold cross-validation needs at least 2 folds")
        if fold is not None and not 0 <= fold < num_folds:
            raise UserError(f"data.fold={fold}: must be in 0..{num_folds - 1} (data.num_folds={num_folds})")
        if not 0 <= test_fraction < 1:
            raise UserError(
                f"data.test_fraction={test_fraction}: the share of each genre held out for testing must be "
                "at least 0 and below 1"
            )
        check_policy(bad_files)
        for key, value, least in (("batch_size", batch_size, 1), ("num_workers", num_workers, 0)):
            if value < least:
                raise UserError(f"data.{key}={value!r}: must be a whole number >= {least}; fix data.{key}")
        self.root = Path(root)
        self.classes = list(classes) if classes is not None else None
        self.max_per_class, self.test_fraction, self.num_folds = max_per_class, test_fraction, num_folds
        # the folds this run trains: all of them, or the one `data.fold` names; `fold` is the one loaded now
        self.selected_folds = list(range(num_folds)) if fold is None else [fold]
        self.fold, self.seed = self.selected_folds[0], seed
        self.prepare = prepare
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
        # named here so that sweeps and the hparams block reach them; the transform presets take them
        self.image_size, self.crop_scale, self.colormap = image_size, crop_scale, colormap
        self.crop_width, self.eval_width, self.eval_crops = crop_width, eval_width, eval_crops
        # masks and mixup on the training device, after the batch got there (on_after_batch_transfer)
        self.batch_augment = [
            build(f"data.batch_augment[{i}]", augment) for i, augment in enumerate(batch_augment or [])
        ]
        # the family's presets (genre_lightning/data/presets.py); the eval preset's settings, plain values,
        # go into checkpoints so prediction rebuilds the same preprocessing
        settings = {
            "transforms": transforms,
            "image_size": image_size,
            "resize_size": resize_size,
            "crop_scale": crop_scale,
            "crop_width": crop_width,
            "eval_width": eval_width,
            "eval_crops": eval_crops,
            "colormap": colormap,
        }
        self.train_transform = presets.build(settings, train=True)
        self.eval_transform = presets.build(settings, train=False)
        # what the scan before the split does with images that do not decode or are far too small
        self.bad_files, self.max_image_pixels = bad_files, max_image_pixels
        self.left_out: list[tuple[str, str]] = []  # (path, reason) of the bad images bad_files=skip left out
        self.split: Split | None = None
        self.read = None  # path -> RGB image, decoded or from the cache; set by setup()

    def prepare_data(self) -> None:
        # `prepare` (e.g. the demo set's maker, configs/experiment/demo.yaml) is called with the root
        # when it is missing; an existing folder is left alone, whatever made it
        if self.prepare is not None and not self.root.exists():
            build("data.prepare", self.prepare, self.root)
        if self.cache:
            # built here, on the one process that prepares data; setup() on the others finds it ready
            self.setup()

    def setup(self, stage: str | None = None) -> None:
        if self.split is None:
            classes, files = discover(self.root, self.classes)
            files = self._without_bad_images(files)
            # folders made by build_dataset may hold several windows per song: split by song
            group = song_of if (self.root / RENDERING_MARKER).is_file() else None
            self.split = make_split(
                files, self.test_fraction, self.num_folds, self.seed, self.max_per_class, group
            )
            counts = Counter(label for _, label in self.split.items)
            log.info("classes: %s", {name: counts[i] for i, name in enumerate(classes)})
        if self.read is None and self.cache:
            files = [path for path, _ in self.split.items]
            self.read = decoded_images(
                files, self.resize_size, self.cache_dir, self.num_workers, self.max_image_pixels
            )
        elif self.read is None:
            self.read = functools.partial(
                load_image, min_size=self.resize_size, max_pixels=self.max_image_pixels
            )

    def _without_bad_images(self, files: dict[str, list[str]]) -> dict[str, list[str]]:
        """Scan every image before the split: bad ones stop here (bad_files=error, raising BadImages) or
        are left out (skip), the same ones on every run over the same files."""
        every = [path for paths in files.values() for path in paths]
        bad = bad_images(every, self.image_size, self.max_image_pixels, self.cache_dir, self.num_workers)
        if bad and self.bad_files == "error":
            raise BadImages(bad)
        if bad:
            log.warning("data.bad_files=skip: leaving out %d bad image(s), first %s", len(bad), bad[0][1])
        self.left_out = bad
        dropped = {path for path, _ in bad}
        return {name: [path for path in paths if path not in dropped] for name, paths in files.items()}

    @property
    def class_names(self) -> list[str]:
        self.setup()
        return self.split.classes

    @property
    def preprocessing(self) -> dict:
        """Everything a checkpoint needs to turn an image file, or a song rendered as the images were, into
        model input."""
        rendering = read_marker(self.root)
        return {
            "transform": self.eval_transform.settings,
            "min_size": self.resize_size,
            # None when the folder does not say how its images were made; prediction then assumes the
            # published spec
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
            # not for training: a persistent worker's random generators carry its crops from epoch to epoch,
            # and no checkpoint holds them, so a fold continued from last.ckpt would draw other crops
            persistent_workers=self.persistent_workers and self.num_workers > 0 and not train,
        )

    def on_after_batch_transfer(self, batch, dataloader_idx: int):
        if self.batch_augment and self.trainer is not None and self.trainer.training:
            images, targets = batch
            for augment in self.batch_augment:
                images, targets = augment(images, targets, len(self.split.classes))
            batch = images, targets
        return batch

    def use_fold(self, fold: int) -> None:
        """Select fold ``fold`` (one of ``selected_folds``) as validation data, the other folds as training
        data; the loaders made after this read them."""
        self.fold = fold

    def train_dataloader(self) -> DataLoader:
        return self.loader(self.split.train_val(self.fold)[0], train=True)

    def val_dataloader(self) -> DataLoader:
        return self.loader(self.split.train_val(self.fold)[1], train=False)

    def test_dataloader(self) -> DataLoader:
        return self.loader(self.split.test, train=False)
