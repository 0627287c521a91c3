"""The LightningDataModule: a genre-folder dataset, its split, the fold being trained, and the loaders."""

from __future__ import annotations

import functools
import logging
from collections import Counter
from pathlib import Path

import lightning.pytorch as pl
import torch
from omegaconf import DictConfig, OmegaConf
from torch.utils.data import DataLoader

from genre_lightning.audio.rendering import Rendering, read_marker
from genre_lightning.constants import RENDERING_MARKER
from genre_lightning.data import presets
from genre_lightning.data.cache import decoded_images
from genre_lightning.data.crops import batches_of_one_size
from genre_lightning.data.drawing import Drawn, draw_split
from genre_lightning.data.images import ImageFiles, decode_jpegs, decoded_size
from genre_lightning.data.resident import Resident, ResidentBatches, choose
from genre_lightning.data.scan import BadImages, find_bad, scan
from genre_lightning.data.settings import DataSettings
from genre_lightning.data.soft_labels import soft_targets
from genre_lightning.data.splits import Split, discover, song_of
from genre_lightning.data.trim import CroppedImages, check_trim, plan
from genre_lightning.errors import UserError, build, config_part

log = logging.getLogger(__name__)


class SpectrogramDataModule(pl.LightningDataModule):
    """Genre folders of spectrogram images, a held-out test split and k stratified folds."""

    def __init__(self, **values):
        super().__init__()
        # every value checked, by kind and range, before anything is built or read (data/settings.py)
        self.settings = settings = DataSettings.from_config(values)
        self.root = Path(settings.root)
        self.cache_dir = (
            Path(settings.cache_dir) if settings.cache_dir is not None else self.root.parent / ".cache"
        )
        # the fold whose loaders are made now: one of settings.selected_folds (use_fold)
        self.fold = settings.selected_folds[0]
        # masks and mixup on the training device, after the batch got there (on_after_batch_transfer)
        self.batch_augment = [
            build(f"data.batch_augment[{i}]", augment)
            for i, augment in enumerate(settings.batch_augment or [])
        ]
        self.train_preset, self.eval_preset = self._presets(settings)
        # the decoded images, made by the first loader that uses them; (device, resident or not), decided once
        self.resident_set: Resident | None = None
        self.resident_choice: tuple[str, bool] | None = None
        self.kept_resident: bool | None = None  # what auto chose when a resumed run started
        self.left_out: list[tuple[str, str]] = []  # (path, reason) of the bad images bad_files=skip left out
        self.scanned: dict[str, dict] = {}  # path -> the scan's record of the image (its size...)
        # the plot area of figures (genre_lightning/data/trim.py): the rule as plain values, every file's
        # crop and the usual box per image size (set by the scan), and what was cut, for the run's trim.txt
        self.trim, self.boxes, self.trim_report = check_trim(settings.trim), {}, ""
        self.usual_boxes: list[list[int]] = []
        self.split: Split | None = None
        self.drawn: Drawn | None = None  # the split and what drawing it found (duplicates, counts)
        self.read = None  # path -> RGB image, decoded or from the cache; set by setup()
        # how the images were made from songs, for a folder without a marker (which wins); checked here
        with config_part("data.rendering"):
            rendering = settings.rendering
            if isinstance(rendering, DictConfig):
                rendering = OmegaConf.to_container(rendering)
            self.rendering = Rendering.from_dict(rendering) if rendering is not None else None
        # the teacher's probabilities of each non-test image (data.soft_labels), read and checked against
        # the split by setup(): the training targets, if set
        self.teacher: dict[str, torch.Tensor] | None = None

    @staticmethod
    def _presets(settings: DataSettings):
        """The family's train and eval presets (genre_lightning/data/presets.py) from data.transforms, which
        holds the family's name and its own values only; the eval preset's settings, plain values, go into
        checkpoints so prediction rebuilds the same preprocessing.

        One decode size serves training and evaluation: short side >= resize_size. For the real 1984x1478
        spectrograms that is libjpeg's 1/4 scale (496x370), where even RandomResizedCrop's smallest crops
        (35% of the area, aspect 3:4 to 4:3) span >= 219 px, so a 224 px input is never upsampled more than
        2%; a 1/2-scale decode would take twice the time and four times the cache for no detail the picture
        holds (it has 128 mel bands from top to bottom)."""
        family = dict(settings.transforms or {"family": "resized_crop", "crop_scale": 0.35})
        values = {
            "transforms": family.pop("family", None),
            "image_size": settings.image_size,
            "resize_size": settings.resize_size,
            **family,
        }
        keys = {name: f"data.{name}" for name in ("image_size", "resize_size")}
        keys["transforms"] = "data.transforms.family"
        return (
            presets.build(values, train=True, prefix="data.transforms.", keys=keys),
            presets.build(values, train=False, prefix="data.transforms.", keys=keys),
        )

    def prepare_data(self) -> None:
        # `prepare` (e.g. the demo set's maker, configs/experiment/demo.yaml) is called with the root
        # when it is missing; an existing folder is left alone, whatever made it
        if self.settings.prepare is not None and not self.root.exists():
            build("data.prepare", self.settings.prepare, self.root)
        if self.settings.cache:
            # built here, on the one process that prepares data; setup() on the others finds it ready
            self.setup()

    def setup(self, stage: str | None = None) -> None:
        if self.split is None:
            classes, found = discover(self.root, self.settings.classes)
            files = self._without_bad_images(found)
            good = {path: self.scanned[path] for paths in files.values() for path in paths}
            # folders made by build_dataset may hold several windows per song: split by song
            song = song_of if (self.root / RENDERING_MARKER).is_file() else None
            self.drawn = draw_split(self.root, found, good, self.settings, song)
            self.split = self.drawn.split
            if self.settings.fold is not None and self.settings.fold >= len(self.split.folds):
                raise UserError(
                    f"data.fold={self.settings.fold}: the given split has {len(self.split.folds)} fold(s)"
                )
            counts = Counter(label for _, label in self.split.items)
            log.info("classes: %s", {name: counts[i] for i, name in enumerate(classes)})
            if self.settings.soft_labels is not None:
                files = [path for fold in [*self.split.folds, self.split.train or []] for path, _ in fold]
                test = [path for path, _ in self.split.test]
                targets = soft_targets(self.settings.soft_labels, self.root, classes, files, test)
                self.teacher = dict(zip(files, targets))
        if self.read is None and self.settings.cache:
            files = [path for path, _ in self.split.items]
            settings = self.settings
            self.read = decoded_images(
                files,
                settings.resize_size,
                self.cache_dir,
                settings.num_workers,
                settings.max_image_pixels,
                self.boxes,
            )
        elif self.read is None:
            self.read = CroppedImages(self.boxes, self.settings.resize_size, self.settings.max_image_pixels)

    def _without_bad_images(self, files: dict[str, list[str]]) -> dict[str, list[str]]:
        """Scan every image before the split: bad ones stop here (bad_files=error, raising BadImages) or
        are left out (skip), the same ones on every run over the same files."""
        every = [path for paths in files.values() for path in paths]
        settings = self.settings
        records = scan(
            every, settings.max_image_pixels, self.cache_dir, settings.num_workers, self.trim == "auto"
        )
        self.scanned = {path: record for path, record in records.items() if isinstance(record, dict)}
        bad = find_bad(records, settings.image_size)
        if bad and self.settings.bad_files == "error":
            raise BadImages(bad)
        if bad:
            log.warning("data.bad_files=skip: leaving out %d bad image(s), first %s", len(bad), bad[0][1])
        self.left_out = bad
        dropped = {path for path, _ in bad}
        good = {path: record for path, record in self.scanned.items() if path not in dropped}
        self.boxes, self.usual_boxes, line, self.trim_report = plan(self.trim, good)
        log.info(line)
        return {name: [path for path in paths if path not in dropped] for name, paths in files.items()}

    @property
    def selected_folds(self) -> list[int]:
        """The folds this run trains: those of the settings, or a given split's own (data.folds=given)."""
        count = len(self.split.folds) if self.split is not None else self.settings.num_folds
        if count == self.settings.num_folds:
            return self.settings.selected_folds
        return list(range(count)) if self.settings.fold is None else [self.settings.fold]

    @property
    def class_names(self) -> list[str]:
        """The genres of the split setup() made."""
        if self.split is None:
            raise RuntimeError("class_names before setup(): the genres are known once the images are split")
        return self.split.classes

    @property
    def preprocessing(self) -> dict:
        """Everything a checkpoint needs to turn an image file, or a song rendered as the images were, into
        model input."""
        rendering = read_marker(self.root) or self.rendering
        return {
            "transform": self.eval_preset.settings,
            "min_size": self.settings.resize_size,
            # how each image is cut to its plot area: auto (found per image, held to the usual box of the
            # training images of its size), off, or one box for all
            "trim": self.trim,
            "trim_usual": self.usual_boxes,
            # None when neither the folder nor data.rendering says how its images were made; prediction then
            # assumes the published spec
            "spectrogram": rendering.to_dict() if rendering else None,
        }

    def loader(
        self, items: list[tuple[str, int]], train: bool, targets: torch.Tensor | None = None
    ) -> DataLoader | ResidentBatches:
        """The batches of (file, label) pairs with this module's decoding, presets and settings: from the
        images kept on the training device (data.resident), or a DataLoader that decodes them. ``targets``:
        class probabilities per file (N x classes) to give instead of the labels."""
        self.setup()
        files = [p for p, _ in items]
        labels = [y for _, y in items] if targets is None else targets
        preset = self.train_preset if train else self.eval_preset
        if self._use_resident():
            return ResidentBatches(self.resident_set, files, labels, preset, self.settings.batch_size, train)
        batch_size = self.settings.batch_size
        batching = {
            "batch_size": batch_size,
            "shuffle": train,
            "drop_last": train and len(files) > batch_size,
        }
        if not train and preset.keeps_width:
            # whole images of different sizes, in file order, in batches of one size (from their headers)
            sizes = [
                decoded_size(path, self.settings.resize_size, self.settings.max_image_pixels)
                for path in files
            ]
            if len(set(sizes)) > 1:
                batching = {"batch_sampler": batches_of_one_size(sizes, batch_size)}
        return DataLoader(
            ImageFiles(files, labels, preset, self.read),
            **batching,
            num_workers=self.settings.num_workers,
            pin_memory=self.settings.pin_memory,
            # not for training: a persistent worker's random generators carry its crops from epoch to epoch,
            # and no checkpoint holds them, so a fold continued from last.ckpt would draw other crops
            persistent_workers=self.settings.persistent_workers
            and self.settings.num_workers > 0
            and not train,
        )

    def _use_resident(self) -> bool:
        device = self.trainer.strategy.root_device if self.trainer is not None else torch.device("cpu")
        processes = self.trainer.world_size if self.trainer is not None else 1
        return self.use_resident(device, processes)

    def use_resident(self, device: torch.device, processes: int) -> bool:
        """Whether the loaders draw from the images kept on the training ``device``; decided (and logged)
        once, the set decoded then: every image of the split, for every fold and the test.
        ``kept_resident``: the choice data.resident=auto made when the run started (a resume sets it)."""
        self.setup()
        if self.resident_choice is not None and self.resident_choice[0] == str(device):
            return self.resident_choice[1]
        files = [path for path, _ in self.split.items]
        settings = self.settings
        keep, why = choose(
            settings.resident,
            self.resident_bytes(files),
            device,
            settings.resident_share,
            processes,
            self.kept_resident,
        )
        self.resident_choice = (str(device), keep)
        log.info("images %s: %s", "kept decoded on the device" if keep else "decoded by the loaders", why)
        if keep:
            # nvJPEG decodes JPEGs on a GPU in batches, unless the cache holds their pixels already
            on_gpu = device.type == "cuda" and not self.settings.cache
            jpegs = functools.partial(
                decode_jpegs,
                min_size=self.settings.resize_size,
                device=device,
                max_pixels=self.settings.max_image_pixels,
                boxes=self.boxes,
            )
            self.resident_set = Resident(
                files,
                self.read,
                self.train_preset.before_crop,
                device,
                self.settings.num_workers,
                jpegs if on_gpu else None,
            )
        return keep

    def resident_bytes(self, files: list[str]) -> int:
        """The bytes of ``files`` kept as one N x C x H x W tensor (data.resident): H and W those of the
        largest image after the preset's ``before_crop``. Each image's decoded size comes from its header;
        ``before_crop`` runs on a blank image of each distinct size, so its resizing and channels count as
        they will."""
        sizes = {
            decoded_size(
                path, self.settings.resize_size, self.settings.max_image_pixels, self.boxes.get(path)
            )
            for path in files
        }
        blank = functools.partial(torch.zeros, dtype=torch.uint8)
        shapes = [self.train_preset.before_crop(blank(3, height, width)).shape for height, width in sizes]
        channels = shapes[0][0]
        return len(files) * channels * max(shape[1] for shape in shapes) * max(shape[2] for shape in shapes)

    def on_after_batch_transfer(self, batch, dataloader_idx: int):
        if self.batch_augment and self.trainer is not None and self.trainer.training:
            images, targets = batch
            for augment in self.batch_augment:
                images, targets = augment(images, targets, len(self.split.classes))
            batch = images, targets
        return batch

    def use_fold(self, fold: int) -> None:
        """Set which fold (one of ``selected_folds``) is the validation data, the other folds the training
        data, of the loaders made after this; it reads nothing."""
        self.fold = fold

    def train_dataloader(self) -> DataLoader | ResidentBatches:
        items = self.split.train_val(self.fold)[0]
        targets = None
        if self.teacher is not None:
            targets = torch.stack([self.teacher[path] for path, _ in items])
        return self.loader(items, train=True, targets=targets)

    def val_dataloader(self) -> DataLoader | ResidentBatches:
        return self.loader(self.split.train_val(self.fold)[1], train=False)

    def test_dataloader(self) -> DataLoader | ResidentBatches:
        return self.loader(self.split.test, train=False)
