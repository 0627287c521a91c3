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
from torchvision.transforms import v2

from genre_lightning.audio.rendering import Rendering, read_marker
from genre_lightning.constants import RENDERING_MARKER
from genre_lightning.data import presets
from genre_lightning.data.cache import decoded_images
from genre_lightning.data.images import MAX_PIXELS, ImageFiles, decode_jpegs, load_image
from genre_lightning.data.resident import Resident, ResidentBatches, choose
from genre_lightning.data.scan import BadImages, bad_images, check_policy
from genre_lightning.data.soft_labels import soft_targets
from genre_lightning.data.splits import Split, discover, make_split, song_of
from genre_lightning.errors import UserError, build, config_part

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
        transforms: DictConfig | dict | None = None,
        batch_augment: list | None = None,
        resident: bool | str = "auto",
        resident_share: float = 0.5,
        bad_files: str = "error",
        max_image_pixels: int = MAX_PIXELS,
        soft_labels: str | None = None,
        rendering: DictConfig | dict | None = None,
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
        self.image_size = image_size
        # masks and mixup on the training device, after the batch got there (on_after_batch_transfer)
        self.batch_augment = [
            build(f"data.batch_augment[{i}]", augment) for i, augment in enumerate(batch_augment or [])
        ]
        # the family's presets (genre_lightning/data/presets.py) from data.transforms, which holds the
        # family's name and its own values only; the eval preset's settings, plain values, go into
        # checkpoints so prediction rebuilds the same preprocessing
        if transforms is None:
            transforms = {"family": "resized_crop", "crop_scale": 0.35}
        if not isinstance(transforms, (dict, DictConfig)):
            raise UserError(
                f"data.transforms={transforms!r}: choose a family with data/transforms=resized_crop or "
                "time_crop; fix data.transforms"
            )
        family = dict(transforms)
        settings = {
            "transforms": family.pop("family", None),
            "image_size": image_size,
            "resize_size": resize_size,
            **family,
        }
        keys = {name: f"data.{name}" for name in ("image_size", "resize_size")}
        keys["transforms"] = "data.transforms.family"
        self.train_transform = presets.build(settings, train=True, prefix="data.transforms.", keys=keys)
        self.eval_transform = presets.build(settings, train=False, prefix="data.transforms.", keys=keys)
        if not (resident == "auto" or isinstance(resident, bool)):
            raise UserError(f"data.resident={resident!r}: use auto, true or false; fix data.resident")
        share_ok = isinstance(resident_share, (int, float)) and not isinstance(resident_share, bool)
        if not (share_ok and 0 < resident_share <= 1):
            raise UserError(
                f"data.resident_share={resident_share!r}: a share of the free memory, above 0 and at most 1; "
                "fix data.resident_share"
            )
        self.resident, self.resident_share = resident, resident_share
        # the decoded images, made by the first loader that uses them; (device, resident or not), decided once
        self.resident_set: Resident | None = None
        self.resident_choice: tuple[str, bool] | None = None
        # what the scan before the split does with images that do not decode or are far too small
        self.bad_files, self.max_image_pixels = bad_files, max_image_pixels
        self.left_out: list[tuple[str, str]] = []  # (path, reason) of the bad images bad_files=skip left out
        self.split: Split | None = None
        # a teacher's probabilities per training image (data/soft_labels.py): the training targets, if set;
        # read (and checked against the split) by setup()
        self.soft_labels = soft_labels
        # how the images were made from songs, for a folder without a marker (which wins); checked here
        with config_part("data.rendering"):
            if isinstance(rendering, DictConfig):
                rendering = OmegaConf.to_container(rendering)
            self.rendering = Rendering.from_dict(rendering) if rendering is not None else None
        self.teacher: dict[str, torch.Tensor] | None = None
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
            if self.soft_labels is not None:
                files = [path for fold in self.split.folds for path, _ in fold]
                test = [path for path, _ in self.split.test]
                targets = soft_targets(self.soft_labels, self.root, classes, files, test)
                self.teacher = dict(zip(files, targets))
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
            "transform": self.eval_transform.settings,
            "min_size": self.resize_size,
            # None when neither the folder nor data.rendering says how its images were made; prediction then
            # assumes the published spec
            "spectrogram": rendering.to_dict() if rendering else None,
        }

    def loader(
        self, items: list[tuple[str, int]], train: bool, targets: torch.Tensor | None = None
    ) -> DataLoader | ResidentBatches:
        """The batches of (file, label) pairs with this module's decoding, transforms and settings: from the
        images kept on the training device (data.resident), or a DataLoader that decodes them. ``targets``:
        class probabilities per file (N x classes) to give instead of the labels."""
        self.setup()
        files = [p for p, _ in items]
        labels = [y for _, y in items] if targets is None else targets
        transform = self.train_transform if train else self.eval_transform
        if self._use_resident():
            return ResidentBatches(self.resident_set, files, labels, transform, self.batch_size, train)
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

    def _use_resident(self) -> bool:
        """Whether the loaders draw from the images kept on the training device; decided (and logged) once,
        the set decoded then: every image of the split, for every fold and the test."""
        device = self.trainer.strategy.root_device if self.trainer is not None else torch.device("cpu")
        processes = self.trainer.world_size if self.trainer is not None else 1
        if self.resident_choice is not None and self.resident_choice[0] == str(device):
            return self.resident_choice[1]
        files = [path for path, _ in self.split.items]
        prepare = self.train_transform.prepare
        # the size of the set, from its first image (the one tensor is as large as its largest image)
        nbytes = len(files) * prepare(v2.functional.pil_to_tensor(self.read(files[0]))).numel()
        keep, why = choose(self.resident, nbytes, device, self.resident_share, processes)
        self.resident_choice = (str(device), keep)
        log.info("images %s: %s", "kept decoded on the device" if keep else "decoded by the loaders", why)
        if keep:
            # nvJPEG decodes JPEGs on a GPU in batches, unless the cache holds their pixels already
            on_gpu = device.type == "cuda" and not self.cache
            jpegs = functools.partial(
                decode_jpegs, min_size=self.resize_size, device=device, max_pixels=self.max_image_pixels
            )
            self.resident_set = Resident(
                files, self.read, prepare, device, self.num_workers, jpegs if on_gpu else None
            )
        return keep

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
