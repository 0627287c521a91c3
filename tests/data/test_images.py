"""Decoding: every image, whatever its bit depth, becomes the 8-bit RGB pixels the model trains on."""

import numpy as np
from PIL import Image

from genre_lightning.data.images import load_image
from genre_lightning.data.scan import bad_images


def test_a_16_bit_greyscale_png_decodes_by_the_full_16_bit_range(tmp_path):
    # a spectrogram's levels as 8-bit values, and the same levels written at 16 bits (PNG's v * 65535 / 255)
    levels = np.tile(np.array([0, 1, 51, 102, 128, 200, 254, 255], dtype=np.uint16), (64, 12))
    path = tmp_path / "spectrogram.png"
    Image.fromarray(levels * 257).save(path)
    assert Image.open(path).mode == "I;16"

    expected = np.repeat(levels.astype(np.uint8)[..., None], 3, axis=2)
    assert np.array_equal(np.asarray(load_image(path)), expected)
    # the size-reduced decode of training and prediction gives the pixels of the 8-bit export
    Image.fromarray(levels.astype(np.uint8)).save(tmp_path / "8-bit.png")
    reduced = np.asarray(load_image(path, min_size=32))
    assert reduced.shape == (32, 48, 3)
    assert np.array_equal(reduced, np.asarray(load_image(tmp_path / "8-bit.png", min_size=32)))
    # and the scan passes it
    assert bad_images([str(path)], image_size=64, max_pixels=10**6, cache_dir=None) == []


def test_16_bit_values_between_8_bit_levels_round_to_the_nearest(tmp_path):
    path = tmp_path / "ramp.png"
    Image.fromarray(np.array([[0, 128, 129, 102 * 257 + 128, 65535]], dtype=np.uint16)).save(path)
    assert np.asarray(load_image(path))[0, :, 0].tolist() == [0, 0, 1, 102, 255]
