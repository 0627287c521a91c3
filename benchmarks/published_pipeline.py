"""The published project's input pipeline, as it ran: PIL decodes the full JPEG, then Resize + CenterCrop +
ToTensor + Normalize in the loader workers, into an fp32 network trained by a plain loop."""

from __future__ import annotations

from torch.utils.data import DataLoader
from torchvision import transforms

from genre_lightning.constants import IMAGENET_MEAN, IMAGENET_STD
from genre_lightning.data.images import ImageFiles, load_image


def resize_size(image_size: int) -> int:
    """The published project's Resize(256) for a 224 px crop, scaled to other crop sizes."""
    return round(image_size * 256 / 224)


def published_transform(image_size: int):
    return transforms.Compose(
        [
            transforms.Resize(resize_size(image_size)),
            transforms.CenterCrop(image_size),
            transforms.ToTensor(),
            transforms.Normalize(IMAGENET_MEAN, IMAGENET_STD),
        ]
    )


def published_read(path):
    """The full-size decode: load_image with no size to reduce to."""
    return load_image(path)


def published_loader(
    files: list[str],
    labels: list[int],
    image_size: int,
    batch_size: int,
    workers: int,
    train: bool,
    pin: bool,
):
    """The published project's DataLoader over (file, label) pairs: shuffled with the last partial batch
    dropped for training."""
    return DataLoader(
        ImageFiles(files, labels, published_transform(image_size), published_read),
        batch_size=batch_size,
        shuffle=train,
        drop_last=train and len(files) > batch_size,
        num_workers=workers,
        pin_memory=pin,
    )
