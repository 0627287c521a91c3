"""The resident mode (data.resident): every image decoded once into one uint8 tensor on the training device,
and the batches drawn from it there.

The set is decoded through the DataModule's own reading (the cache, or DCT-scaled decoding) and its
preset's steps before the crops (``before_crop``: colormap, time_crop's resize to the height), once. Images of
different sizes share the tensor's N x C x H x W, H and W the largest: each is padded by repeating its
last row and column (so that a bilinear sample at its edge reads its own pixels), and its own size is
kept in ``sizes``; the presets' batched crops cut inside it. Nothing is resized to a common size, so every
image is cropped as the per-image presets would crop it.

Each epoch's order and random crops come from one generator on the device, seeded from the global torch
generator when the epoch starts, as a DataLoader's sampler seeds itself: the same seed gives the same
epochs, and a fold continued from a checkpoint (which holds the global generator, RandomState) draws
the epochs the run would have drawn.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator

import torch
from torch.utils.data import DataLoader
from torchvision.transforms import v2

from genre_lightning.data.crops import batches_of_one_size
from genre_lightning.data.images import ImageFiles
from genre_lightning.data.presets import Preset
from genre_lightning.errors import UserError

log = logging.getLogger(__name__)


class Resident:
    """Images decoded once, through ``before_crop``: ``images`` N x C x H x W uint8 and ``sizes``
    N x (height, width), on ``device``; ``row[path]`` is the image's index; ``host_sizes`` the sizes as
    Python ints.

    ``read`` (path -> RGB image) decodes on the host, in ``workers`` processes; with ``jpegs_on_device``
    (paths -> uint8 tensors on the device: nvJPEG on a GPU) the JPEG files are decoded there instead, in
    batches of ``chunk``."""

    def __init__(
        self,
        files: list[str],
        read: Callable,
        before_crop: Callable,
        device,
        workers: int,
        jpegs_on_device: Callable | None = None,
        chunk: int = 256,
    ):
        jpegs = [i for i, path in enumerate(files) if jpegs_on_device and _is_jpeg(path)]
        on_host = sorted(set(range(len(files))) - set(jpegs))
        decoded: list[torch.Tensor | None] = [None] * len(files)
        for start in range(0, len(jpegs), chunk):
            part = jpegs[start : start + chunk]
            for i, image in zip(part, jpegs_on_device([files[i] for i in part])):
                decoded[i] = before_crop(image)
        # the loader as a process pool: each image decoded and put through before_crop once, in file order
        # with a generator of its own: a loader draws its workers' seed from the global generator, and the
        # set may be decoded after a fold was seeded (a resumed run's first fold), whose crops must not move
        pool = DataLoader(
            ImageFiles(
                [files[i] for i in on_host], on_host, v2.Compose([v2.PILToTensor(), before_crop]), read
            ),
            batch_size=None,
            num_workers=workers if on_host else 0,
            generator=torch.Generator().manual_seed(0),
        )
        for image, i in pool:
            decoded[i] = image
        self.host_sizes = [tuple(image.shape[-2:]) for image in decoded]
        height = max(h for h, _ in self.host_sizes)
        width = max(w for _, w in self.host_sizes)
        self.images = torch.empty(
            len(files), decoded[0].shape[0], height, width, dtype=torch.uint8, device=device
        )
        for i, image in enumerate(decoded):
            h, w = image.shape[-2:]
            image = image.to(device)
            self.images[i, :, :h, :w] = image
            self.images[i, :, :h, w:] = image[:, :, w - 1 :]
            self.images[i, :, h:] = self.images[i, :, h - 1 : h]
        self.sizes = torch.tensor(self.host_sizes, device=device)
        self.row = {path: i for i, path in enumerate(files)}
        self.narrowest = min(w for _, w in self.host_sizes)


def _is_jpeg(path: str) -> bool:
    return path.lower().endswith((".jpg", ".jpeg"))


def available_memory(device: torch.device) -> int:
    """Bytes free for the set on ``device``: the GPU's free memory, else the host's available memory."""
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    try:
        with open("/proc/meminfo") as info:
            fields = dict(line.split(":", 1) for line in info)
        return int(fields["MemAvailable"].split()[0]) * 1024
    except (OSError, KeyError, ValueError):
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def choose(
    setting, nbytes: int, device: torch.device, share: float, processes: int, kept: bool | None = None
) -> tuple[bool, str]:
    """Whether to keep the set resident (data.resident: auto, true or false), and why, for the log. ``kept``:
    what auto chose when the run started (a resume keeps it, as the two paths draw different crops); kept
    on a device where the set no longer fits, a one-line UserError."""
    if setting == "auto" and kept is False:
        return False, "data.resident=auto: decoding per epoch, as this run chose when it started"
    if setting is False:
        return False, "data.resident=false"
    if processes > 1:
        if setting is True:
            raise UserError(
                f"data.resident=true keeps one set per device and has no sharding across {processes} "
                "processes; use data.resident=auto or false with several devices"
            )
        return False, f"data.resident=auto: {processes} processes share the set (the loaders shard it)"
    free = available_memory(device)
    fits = nbytes <= share * free
    size = f"{nbytes / 2**20:.0f} MiB decoded, {free / 2**20:.0f} MiB free on {device}"
    if setting is True:
        return True, f"data.resident=true ({size})"
    if kept and not fits:
        raise UserError(
            f"data.resident=auto kept this run's images on the device when it started, and now they do not "
            f"fit ({size}, over data.resident_share={share}); free memory, or resume with "
            "data.resident_share=1 to keep them there anyway"
        )
    if kept:
        return True, f"data.resident=auto: {size}, kept on the device as this run chose when it started"
    if fits:
        return True, f"data.resident=auto: {size}, within data.resident_share={share}"
    return False, f"data.resident=auto: {size}, over data.resident_share={share}; decoding per epoch"


class ResidentBatches:
    """(images, labels) batches of ``files`` from a Resident set, through a preset's batched crops, on the
    set's device: a train preset's ``train_batch`` draws random crops and the order from the epoch's
    generator, an eval preset's ``eval_batch`` keeps the order. Lightning takes it as any loader (it has a
    length)."""

    def __init__(
        self,
        resident: Resident,
        files: list[str],
        labels: list[int] | torch.Tensor,
        preset: Preset,
        batch_size: int,
        train: bool,
    ):
        device = resident.images.device
        self.files = files
        self.resident, self.preset, self.batch_size, self.train = resident, preset, batch_size, train
        self.rows = torch.tensor([resident.row[path] for path in files], device=device)
        self.labels = torch.as_tensor(labels, device=device)
        if train:  # as the loaders: a last partial batch is dropped (unless it would drop all)
            stop = len(files) // batch_size * batch_size if len(files) > batch_size else len(files)
            self.batches = [
                range(start, min(start + batch_size, stop)) for start in range(0, stop, batch_size)
            ]
        else:  # in file order; whole images whose sizes (after before_crop) differ go in batches of one size
            sizes = [resident.host_sizes[resident.row[path]] for path in files]
            keys = sizes if preset.keeps_width else [None] * len(files)
            chosen = batches_of_one_size(keys, batch_size)
            self.batches = [torch.tensor(batch, device=device) for batch in chosen]
            # which positions of each batch share a size (the resized_crop family's batches mix them)
            self.groups = [self._groups([sizes[i] for i in batch]) for batch in chosen]

    @staticmethod
    def _groups(sizes: list[tuple[int, int]]) -> list[tuple[int, int, list[int]]]:
        groups: dict[tuple[int, int], list[int]] = {}
        for position, size in enumerate(sizes):
            groups.setdefault(size, []).append(position)
        return [(h, w, positions) for (h, w), positions in groups.items()]

    def __len__(self) -> int:
        return len(self.batches)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        resident, device = self.resident, self.resident.images.device
        if self.train:
            # from the global generator, as RandomSampler seeds itself each epoch
            seed = int(torch.empty((), dtype=torch.int64).random_().item())
            generator = torch.Generator(device).manual_seed(seed)
            order = torch.randperm(len(self.rows), generator=generator, device=device)
        for batch, chosen in enumerate(self.batches):
            # a range of the epoch's order, or the batch's positions in file order
            positions = order[chosen.start : chosen.stop] if self.train else chosen
            rows = self.rows[positions]
            if self.train:
                images = self.preset.train_batch(
                    resident.images[rows], resident.sizes[rows], generator, resident.narrowest
                )
            else:
                images = self.preset.eval_batch(resident.images[rows], self.groups[batch])
            yield images, self.labels[positions]
