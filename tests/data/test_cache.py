import os

import numpy as np
import pytest
import torch
from hydra.utils import instantiate
from PIL import Image

from genre_lightning.data.cache import decoded_images
from genre_lightning.data.images import load_image
from genre_lightning.errors import UserError


def all_batches(dm, items, train: bool) -> list:
    torch.manual_seed(0)  # the same shuffle and random crops on both sides
    return list(dm.loader(items, train=train))


def test_cache_gives_the_same_tensors_as_decoding(tiny_cfg):
    decoding = instantiate(tiny_cfg("data.num_workers=2").data)
    cached = instantiate(tiny_cfg("data.num_workers=2", "data.cache=true").data)
    cached.prepare_data()
    cached.setup()
    decoding.setup()
    assert os.path.commonpath([cached.read.pixels_path, cached.root]) != str(cached.root), (
        "cache outside the data"
    )
    train, val = cached.split.train_val(0)
    for items, is_train in [(val + cached.split.test, False), (train, True)]:
        for (x, y), (cx, cy) in zip(
            all_batches(decoding, items, is_train), all_batches(cached, items, is_train), strict=True
        ):
            assert x.dtype == cx.dtype == torch.uint8
            assert torch.equal(x, cx) and torch.equal(y, cy)


def write_images(folder, shades) -> list[str]:
    """Uncompressed PNGs: a file's size depends on its pixel count only, not on the pixels."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, shade in enumerate(shades):
        Image.new("RGB", (120, 80), (shade, 255 - shade, 40)).save(folder / f"{i}.png", compress_level=0)
        paths.append(str(folder / f"{i}.png"))
    return paths


def cached_files(cache_dir) -> list[str]:
    return sorted(p.suffix for p in cache_dir.iterdir())


def test_cache_is_reused_then_rebuilt_after_a_file_changes_is_added_or_removed(tmp_path):
    folder, cache_dir = tmp_path / "data" / "Rock", tmp_path / "cache"
    files = write_images(folder, [10, 120, 250])
    first = decoded_images(files, 40, cache_dir)
    assert first.nbytes == 3 * 60 * 40 * 3  # each image stored once, at the decode size (120x80 halved)
    assert decoded_images(files, 40, cache_dir).pixels_path == first.pixels_path, "up to date: reused"
    assert np.array_equal(np.asarray(first(files[1])), np.asarray(load_image(files[1], 40)))

    # new pixels, same size: only the modification time tells
    size = os.path.getsize(files[1])
    write_images(folder, [10, 30])
    os.utime(files[1], ns=(0, os.stat(files[1]).st_mtime_ns + 10**9))
    assert os.path.getsize(files[1]) == size
    second = decoded_images(files, 40, cache_dir)
    assert second.pixels_path != first.pixels_path
    assert np.array_equal(np.asarray(second(files[1])), np.asarray(load_image(files[1], 40)))
    assert not np.array_equal(np.asarray(second(files[1])), np.asarray(first(files[1])))
    assert cached_files(cache_dir) == [".json", ".u8"], "the stale cache is deleted"

    added = folder / "added.png"
    Image.new("RGB", (120, 80), (200, 0, 0)).save(added)
    third = decoded_images([*files, str(added)], 40, cache_dir)
    assert third.pixels_path != second.pixels_path and third.nbytes == 4 * 60 * 40 * 3
    assert np.array_equal(np.asarray(third(str(added))), np.asarray(load_image(added, 40)))
    added.unlink()
    removed = decoded_images(files, 40, cache_dir)
    assert removed.pixels_path != third.pixels_path and removed.nbytes == 3 * 60 * 40 * 3
    assert np.array_equal(np.asarray(removed(files[2])), np.asarray(load_image(files[2], 40)))
    assert cached_files(cache_dir) == [".json", ".u8"]


def test_a_half_written_cache_is_built_again(tmp_path):
    files = write_images(tmp_path / "Rock", [10, 120])
    built = decoded_images(files, 40, tmp_path / "cache")
    # stopped after the pixels, before the index that marks them complete, with half the pixels written
    built.pixels_path.with_suffix(".json").unlink()
    built.pixels_path.write_bytes(built.pixels_path.read_bytes()[: built.nbytes // 2])
    again = decoded_images(files, 40, tmp_path / "cache")
    assert again.nbytes == 2 * 60 * 40 * 3
    for path in files:
        assert np.array_equal(np.asarray(again(path)), np.asarray(load_image(path, 40)))


def test_cache_build_names_an_unreadable_file_and_leaves_nothing_behind(tmp_path):
    files = write_images(tmp_path / "Rock", [10])
    (tmp_path / "Rock" / "bad.jpg").write_bytes(b"not a jpeg")
    (tmp_path / "cache").mkdir()
    with pytest.raises(UserError, match=r"bad.jpg: cannot read the image") as err:
        decoded_images([*files, str(tmp_path / "Rock" / "bad.jpg")], 40, tmp_path / "cache", num_workers=1)
    assert "\n" not in str(err.value)
    assert not list((tmp_path / "cache").iterdir()), "no index, pixels or temporary file of a failed build"
