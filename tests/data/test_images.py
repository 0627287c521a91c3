"""Decoding: every image, whatever its bit depth, becomes the 8-bit RGB pixels the model trains on."""

import re

import numpy as np
import pytest
from PIL import Image

from genre_lightning.data.images import decode_jpegs, load_image
from genre_lightning.data.scan import bad_images
from genre_lightning.errors import UserError


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


def test_jpegs_decoded_in_one_batch_at_full_size_or_reduced_and_a_bad_one_named(tmp_path):
    rng = np.random.default_rng(0)
    files = []
    for i in range(2):
        files.append(tmp_path / f"{i}.jpg")
        Image.fromarray(rng.integers(0, 256, (288, 384, 3), dtype=np.uint8)).save(files[-1], quality=90)
    full = decode_jpegs(files, None, "cpu")
    assert [tuple(image.shape) for image in full] == [(3, 288, 384)] * 2
    # reduced to the size load_image gives, a file with a box cut to it first
    box = [0, 0, 192, 288]
    reduced = decode_jpegs(files, 72, "cpu", boxes={files[1]: box})
    expected = [load_image(files[0], 72).size, load_image(files[1], 72, box=box).size]
    assert [(3, height, width) for width, height in expected] == [tuple(image.shape) for image in reduced]
    assert expected == [(96, 72), (96, 144)]
    # a batch fails as a whole on one corrupt file: the error names that file
    truncated = tmp_path / "truncated.jpg"
    truncated.write_bytes(files[1].read_bytes()[:2000])
    with pytest.raises(
        UserError, match=rf"^{re.escape(str(truncated))}: cannot read the image \(.+\); remove"
    ):
        decode_jpegs([files[0], truncated, files[1]], 72, "cpu")
