"""The customized ResNet: torchvision's backbone with a Dropout -> Linear head."""

from __future__ import annotations

import torch
from torch import nn
from torchvision import models

from genre_lightning.errors import UserError

ARCHS = {
    "resnet18": (models.resnet18, models.ResNet18_Weights.IMAGENET1K_V1),
    "resnet34": (models.resnet34, models.ResNet34_Weights.IMAGENET1K_V1),
    "resnet50": (models.resnet50, models.ResNet50_Weights.IMAGENET1K_V2),
}


def check_arch(arch: str, weights: str | None) -> None:
    """Fail on an architecture or weights name that build_resnet does not know."""
    if arch not in ARCHS:
        raise UserError(f"model.arch={arch!r} is not supported; choose one of {sorted(ARCHS)}")
    if weights not in (None, "imagenet"):
        raise UserError(f"model.weights={weights!r} is not supported; use imagenet or null")


def build_resnet(
    arch: str = "resnet50", num_classes: int = 7, dropout: float = 0.5, weights: str | None = None
) -> nn.Module:
    """ResNet whose final layer is Dropout(dropout) -> Linear(features, num_classes).

    weights="imagenet" loads torchvision's ImageNet weights from $TORCH_HOME/hub/checkpoints
    (downloaded there on first use); None starts from random weights.
    """
    check_arch(arch, weights)
    factory, imagenet = ARCHS[arch]
    try:
        net = factory(weights=imagenet if weights == "imagenet" else None)
    except (OSError, RuntimeError) as err:  # URLError is an OSError
        file = imagenet.url.rsplit("/", 1)[-1]
        raise UserError(
            f"cannot load ImageNet weights for {arch} ({err.__class__.__name__}: {err}); "
            f"download {imagenet.url} into {torch.hub.get_dir()}/checkpoints/{file}, "
            "or set model.weights=null"
        ) from None
    net.fc = nn.Sequential(nn.Dropout(dropout), nn.Linear(net.fc.in_features, num_classes))
    return net
