"""The two attributions, both through Captum and both of the fold ensemble's answer (the mean of the folds'
calibrated probabilities): a Grad-CAM map, and occlusion of groups of pixels (bands of rows, segments of
columns)."""

from __future__ import annotations

import torch
from torch import nn

from genre_lightning.errors import UserError


def captum():
    """The Captum module, or a UserError saying how to install it (it is the `explain` extra)."""
    try:
        import captum.attr
    except ImportError:
        raise UserError(
            "explanations need Captum: pip install -e \".[explain]\" (or pip install 'captum>=0.8')"
        ) from None
    return captum.attr


def layer_of(model: nn.Module, name: str) -> nn.Module:
    """The module ``name`` (a dotted path such as net.layer3) of a fold model; a UserError if it has none."""
    try:
        return model.get_submodule(name)
    except AttributeError:
        raise UserError(
            f"explain.layer={name}: the model has no such layer; use one of net.layer1 ... net.layer4"
        ) from None


def grad_cam(
    models: list[nn.Module], layer: str, images: torch.Tensor, targets: torch.Tensor
) -> torch.Tensor:
    """N x H x W Grad-CAM of the ensemble's score for ``targets`` (one class per image) at ``layer`` of
    every fold, upsampled to the images' size and scaled to a maximum of 1 (all 0 where nothing counts).

    The score is the folds' mean calibrated logit (logit / temperature), Grad-CAM's pre-softmax score: a
    probability near 1 has almost no gradient. Its gradient at fold k's layer is fold k's own over the
    number of folds, so each fold's weighted activations are summed before the ReLU, as Grad-CAM of one
    network whose layer holds every fold's channels."""
    attr = captum()
    total = None
    with torch.enable_grad():
        for model in models:

            def score(x: torch.Tensor, model: nn.Module = model) -> torch.Tensor:
                return model(x).float() / model.temperature / len(models)

            cam = attr.LayerGradCam(score, layer_of(model, layer)).attribute(
                images, target=targets, relu_attributions=False
            )
            total = cam.detach() if total is None else total + cam.detach()
    maps = attr.LayerAttribution.interpolate(total.relu(), tuple(images.shape[-2:]), "bilinear")[:, 0]
    peak = maps.flatten(1).max(dim=1).values.clamp_min(1e-12)
    return maps / peak[:, None, None]


def occlusion_drops(
    ensemble: nn.Module,
    images: torch.Tensor,
    targets: torch.Tensor,
    mask: torch.Tensor,
    fill: torch.Tensor,
    batch_size: int,
) -> torch.Tensor:
    """N x groups: how much the ensemble's probability of each image's target falls when the pixels of one
    group of ``mask`` (H x W, group ids 0..G-1) are painted ``fill`` (N x C: each image's colour of silence).
    The ablated copies go through the models ``batch_size`` at a time."""
    attr = captum().FeatureAblation(ensemble)
    groups = int(mask.max()) + 1
    with torch.no_grad():
        drops = attr.attribute(
            images,
            baselines=fill[:, :, None, None].to(images.dtype),
            target=targets,
            feature_mask=mask[None, None].expand(1, images.shape[1], -1, -1),
            perturbations_per_eval=max(1, batch_size // len(images)),
        )
    # every pixel of a group holds the group's drop: read one per group
    first = torch.stack([(mask == g).flatten().nonzero()[0, 0] for g in range(groups)])
    return drops[:, 0].flatten(1)[:, first]


def silence(images: torch.Tensor) -> torch.Tensor:
    """N x C: each image's darkest pixel, the colour its quietest sound is drawn in (the colormap's low end
    on a spectrogram clipped to its top_db): what occlusion paints over a band or a segment."""
    flat = images.flatten(2).float()
    darkest = flat.sum(dim=1).argmin(dim=1)
    return flat[torch.arange(len(images)), :, darkest]
