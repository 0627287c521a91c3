"""The customized ResNet: torchvision's backbone with a Dropout -> Linear head."""

from __future__ import annotations

import torch
from torch import nn
from torchvision import models

from genre_lightning.errors import UserError
from genre_lightning.pretrained import FOLDER as PRETRAINED
from genre_lightning.pretrained import NAME as BUNDLED
from genre_lightning.pretrained import bundled_checkpoints
from genre_lightning.pretrained.int8 import SCALES, dequantize

ARCHS = {
    "resnet18": (models.resnet18, models.ResNet18_Weights.IMAGENET1K_V1),
    "resnet34": (models.resnet34, models.ResNet34_Weights.IMAGENET1K_V1),
    "resnet50": (models.resnet50, models.ResNet50_Weights.IMAGENET1K_V2),
}


# model.weights: a network's starting point besides random (null)
WEIGHTS = ("imagenet", BUNDLED)


def check_arch(arch: str, weights: str | None) -> None:
    """Fail on an architecture or weights name that build_resnet does not know."""
    if arch not in ARCHS:
        raise UserError(f"model.arch={arch!r} is not supported; choose one of {sorted(ARCHS)}")
    if weights is not None and weights not in WEIGHTS:
        raise UserError(f"model.weights={weights!r} is not supported; use {', '.join(WEIGHTS)} or null")


def build_resnet(
    arch: str = "resnet50",
    num_classes: int = 7,
    dropout: float = 0.5,
    weights: str | None = None,
    in_channels: int = 3,
    width: int = 64,
) -> nn.Module:
    """ResNet whose final layer is Dropout(dropout) -> Linear(features, num_classes).

    weights="imagenet" loads torchvision's ImageNet weights from $TORCH_HOME/hub/checkpoints (downloaded there
    on first use); "fma_small" takes the body (all but the head) of the bundled model
    (genre_lightning/pretrained), whose arch, width and in_channels it must have; None starts from random
    weights. in_channels=1 takes one magnitude channel (data.transforms.colormap): the first convolution's
    ImageNet weights are summed over RGB, which on a grey image computes what the RGB network computes on it.
    ``width`` is the channel count of the first stage (torchvision's is 64; each later stage doubles it): 32
    has a quarter of the compute, which on small spectrograms (FMA's 128 x 128) trains faster for nearly the
    same accuracy (docs/accuracy.md: the lighter recipe).
    """
    if in_channels not in (1, 3):
        raise UserError(f"model.in_channels={in_channels}: use 3 (RGB) or 1 (data.transforms.colormap set)")
    check_arch(arch, weights)
    if weights == BUNDLED:
        body = bundled_body(arch, width, in_channels)
    elif width != 64 and weights is not None:
        raise UserError(
            f"model.width={width}: ImageNet weights exist for width 64 only; set model.weights=null"
        )
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
    if width != 64:
        _set_width(net, width)
    if in_channels == 1:
        rgb = net.conv1
        net.conv1 = nn.Conv2d(1, rgb.out_channels, rgb.kernel_size, rgb.stride, rgb.padding, bias=False)
        with torch.no_grad():
            net.conv1.weight.copy_(rgb.weight.sum(dim=1, keepdim=True))
    net.fc = nn.Sequential(nn.Dropout(dropout), nn.Linear(net.fc.in_features, num_classes))
    if weights == BUNDLED:
        net.load_state_dict(body, strict=False)  # every tensor but the new head's (bundled_body checks)
    return net


def bundled_body(arch: str, width: int, in_channels: int) -> dict[str, torch.Tensor]:
    """The bundled model's network without its head, as float32 tensors named as in ``build_resnet``'s
    network; a one-line UserError when the config's arch, width or in_channels differ from the bundled
    model's (its first checkpoint, for an ensemble).

    The file is the package's own, read as data (torch.load with weights_only, as predict/checkpoint.py
    reads every checkpoint; the models layer cannot import prediction)."""
    files = bundled_checkpoints()
    if not files:
        raise UserError(f"model.weights={BUNDLED}: no bundled model in {PRETRAINED}; reinstall the package")
    state = torch.load(files[0], map_location="cpu", weights_only=True)
    try:
        weights = dequantize(state["state_dict"], state.get(SCALES, {}))
    except ValueError as err:
        raise UserError(f"{files[0]}: {err}; reinstall the package") from None
    shape = {key: state["hyper_parameters"][key] for key in ("arch", "width", "in_channels")}
    if shape != {"arch": arch, "width": width, "in_channels": in_channels}:
        settings = " ".join(f"model.{key}={value}" for key, value in shape.items())
        raise UserError(
            f"model.weights={BUNDLED}: the bundled model is {shape['arch']} at width {shape['width']} with "
            f"{shape['in_channels']} input channel(s), not {arch} at {width} with {in_channels}; "
            f"set {settings}"
        )
    return {
        key.removeprefix("net."): tensor.float() if tensor.is_floating_point() else tensor
        for key, tensor in weights.items()
        if key.startswith("net.") and not key.startswith("net.fc.")
    }


def _set_width(net: models.ResNet, width: int) -> None:
    """Rebuild the stem and the four stages of a freshly made (random) torchvision ResNet with ``width``
    channels in the first stage, initialised as torchvision initialises its own."""
    block = type(net.layer1[0])
    depths = [len(stage) for stage in (net.layer1, net.layer2, net.layer3, net.layer4)]
    net.inplanes = width
    net.conv1 = nn.Conv2d(3, width, kernel_size=7, stride=2, padding=3, bias=False)
    net.bn1 = nn.BatchNorm2d(width)
    net.layer1 = net._make_layer(block, width, depths[0])
    net.layer2 = net._make_layer(block, 2 * width, depths[1], stride=2)
    net.layer3 = net._make_layer(block, 4 * width, depths[2], stride=2)
    net.layer4 = net._make_layer(block, 8 * width, depths[3], stride=2)
    net.fc = nn.Linear(8 * width * block.expansion, net.fc.out_features)
    for module in net.modules():
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(module, nn.BatchNorm2d):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)
