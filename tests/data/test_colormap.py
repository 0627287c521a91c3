"""Colormap-aware input: pictures of one spectrogram in two colormaps become the same magnitude image."""

import matplotlib
import numpy as np
import pytest
import torch
from torch import nn

from genre_lightning.data.colormap import ColormapToMagnitude
from genre_lightning.models.resnet import build_resnet


def drawn(values: np.ndarray, cmap: str) -> torch.Tensor:
    """uint8 3 x H x W picture of values in [0, 1] in a matplotlib colormap, as spectrogram tools draw."""
    rgb = (matplotlib.colormaps[cmap](values)[..., :3] * 255).round().astype(np.uint8)
    return torch.from_numpy(rgb).permute(2, 0, 1).contiguous()


@pytest.mark.parametrize("cmap", ["viridis", "magma"])
def test_each_pixel_maps_back_to_the_magnitude_it_was_drawn_from(cmap):
    values = np.random.default_rng(0).random((24, 40))
    magnitude = ColormapToMagnitude(cmap)(drawn(values, cmap))
    assert magnitude.shape == (1, 24, 40) and magnitude.dtype == torch.uint8
    error = (magnitude[0].float() - torch.from_numpy(values * 255).float()).abs()
    assert error.mean() < 3 and error.max() < 12


def test_two_colormaps_of_one_spectrogram_give_one_input():
    values = np.random.default_rng(1).random((16, 16))
    viridis = ColormapToMagnitude("viridis")(drawn(values, "viridis"))
    magma = ColormapToMagnitude("magma")(drawn(values, "magma"))
    assert (viridis.float() - magma.float()).abs().mean() < 3
    # without the mapping the two pictures have nothing in common
    assert (drawn(values, "viridis").float() - drawn(values, "magma").float()).abs().mean() > 30


def test_no_colormap_passes_the_image_through_and_unknown_names_fail_early():
    image = torch.randint(0, 256, (3, 8, 8), dtype=torch.uint8)
    assert ColormapToMagnitude(None)(image) is image
    with pytest.raises(ValueError, match="unknown colormap 'nope'"):
        ColormapToMagnitude("nope")


def test_one_channel_network_sums_imagenet_weights_over_rgb(imagenet_resnet18):
    reference = imagenet_resnet18
    grey = build_resnet("resnet18", num_classes=4, weights="imagenet", in_channels=1)
    rgb = build_resnet("resnet18", num_classes=4, weights="imagenet")
    assert grey.conv1.in_channels == 1
    assert torch.allclose(grey.conv1.weight, reference.conv1.weight.sum(dim=1, keepdim=True))
    # on a grey picture the one-channel stem computes what the RGB stem computes
    image = torch.rand(2, 1, 32, 32)
    assert torch.allclose(grey.conv1(image), rgb.conv1(image.expand(2, 3, 32, 32)), atol=1e-5)
    assert isinstance(grey.fc[1], nn.Linear)
