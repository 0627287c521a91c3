"""The scan before training: bad images found before any fold trains, stopped on or left out; oversized
images refused by their header, whatever PIL's own limit."""

import ast
import json
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, write_png_bomb
from PIL import Image

from genre_lightning.data.images import MAX_PIXELS, load_image
from genre_lightning.data.scan import BadImages, bad_images, format_bad_files, scan
from genre_lightning.data.splits import discover, make_split
from genre_lightning.errors import UserError
from genre_lightning.training.kfold import train

GENRES = ("Folk", "Pop", "Rock")


@pytest.fixture(scope="module")
def bad_data(demo_root, tmp_path_factory):
    """Three demo genres (24 images each, 96x72) and five bad files: truncated, empty, not an image,
    1x1 and a 20000x20000 decompression bomb. Returns the folder and the bad files' reasons."""
    root = tmp_path_factory.mktemp("bad") / "spectrograms"
    for genre in GENRES:
        shutil.copytree(demo_root / genre, root / genre)
    jpeg = (demo_root / "Rock" / "rock_0000.jpg").read_bytes()
    (root / "Rock" / "truncated.jpg").write_bytes(jpeg[: len(jpeg) // 2])
    (root / "Pop" / "empty.jpg").write_bytes(b"")
    (root / "Folk" / "notes.png").write_text("not an image\n")
    Image.new("RGB", (1, 1)).save(root / "Rock" / "dot.png")
    write_png_bomb(root / "Pop" / "bomb.png")
    reasons = {
        "Rock/truncated.jpg": "image file is truncated",
        "Pop/empty.jpg": "cannot read the image",
        "Folk/notes.png": "cannot read the image",
        "Rock/dot.png": "1x1 pixels, far below the model's 64 px input",
        "Pop/bomb.png": "20000x20000 is 400,000,000 pixels, over the limit of 89,478,485",
    }
    return root, {str(root / name): reason for name, reason in reasons.items()}


def every_file(root) -> list[str]:
    return sorted(str(p) for p in root.rglob("*") if p.is_file())


def test_the_scan_finds_every_kind_of_bad_image(bad_data, tmp_path):
    root, reasons = bad_data
    files = every_file(root)
    with Image.open(root / "Rock" / "truncated.jpg") as image:
        assert image.size == (96, 72), "the header is intact: only decoding shows the damage"
    bad = bad_images(files, image_size=64, max_pixels=MAX_PIXELS, cache_dir=tmp_path / "cache")
    assert [path for path, _ in bad] == sorted(reasons)
    for path, reason in bad:
        assert reason.startswith(f"{path}: ") and reasons[path] in reason and "\n" not in reason
    # two worker processes find the same; "far below" follows the model's input size
    assert bad_images(files, 64, MAX_PIXELS, cache_dir=None, num_workers=2) == bad
    smaller_input = bad_images(files, 4, MAX_PIXELS, tmp_path / "cache")
    assert [path for path, _ in smaller_input] == sorted(set(reasons) - {str(root / "Rock" / "dot.png")})


def test_bad_files_error_stops_before_training_with_one_line_and_the_full_list(bad_data, tiny_cfg):
    root, reasons = bad_data
    cfg = tiny_cfg(f"data.root={root}")
    run = cfg.paths.output_dir
    with pytest.raises(UserError) as err:
        train(cfg)
    message = str(err.value)
    assert "\n" not in message and message.startswith("5 bad image(s): ")
    assert f"all listed in {run}/bad_files.txt" in message and "set data.bad_files=skip" in message
    listed = [line.split("\t")[0] for line in Path(run, "bad_files.txt").read_text().splitlines()]
    assert sorted(listed) == sorted(reasons)
    assert not os.path.exists(f"{run}/split.json") and not os.path.exists(f"{run}/fold_0"), "nothing trained"


def test_bad_files_skip_leaves_them_out_of_the_split_and_counts_them(bad_data, tiny_cfg, caplog):
    root, reasons = bad_data
    cfg = tiny_cfg(f"data.root={root}", "data.bad_files=skip", "data.fold=0")
    with caplog.at_level(logging.INFO):
        summary = train(cfg)
    run = cfg.paths.output_dir
    assert "data.bad_files=skip: leaving out 5 bad image(s)" in caplog.text
    assert summary["bad_files_left_out"] == 5
    assert json.loads(Path(run, "cv_summary.json").read_text())["bad_files_left_out"] == 5
    listed = [line.split("\t")[0] for line in Path(run, "bad_files.txt").read_text().splitlines()]
    assert sorted(listed) == sorted(reasons)
    # the split is the one the folder gives without them: the same on every run
    classes, files = discover(root, None)
    good = {name: [path for path in paths if path not in reasons] for name, paths in files.items()}
    expected = make_split(good, cfg.data.test_fraction, cfg.data.num_folds, cfg.seed).to_dict()
    assert json.loads(Path(run, "split.json").read_text()) == json.loads(json.dumps(expected))


def test_the_scan_is_cached_by_size_and_modification_time(demo_root, tmp_path):
    files = [str(shutil.copy(demo_root / "Rock" / f"rock_000{i}.jpg", tmp_path)) for i in range(3)]
    cache = tmp_path / "cache"
    assert all(isinstance(result, dict) for result in scan(files, MAX_PIXELS, cache).values())
    # garbage of the same size with the old modification time: taken as unchanged, the cached verdict holds
    stat = os.stat(files[1])
    with open(files[1], "wb") as f:
        f.write(b"x" * stat.st_size)
    os.utime(files[1], ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert isinstance(scan(files, MAX_PIXELS, cache)[files[1]], dict)
    # a new modification time: checked again; and another pixel limit checks every file again
    os.utime(files[1], ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    assert "cannot read the image" in scan(files, MAX_PIXELS, cache)[files[1]]
    os.utime(files[1], ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert "cannot read the image" in scan(files, MAX_PIXELS - 1, cache)[files[1]]


def test_images_over_the_pixel_limit_are_refused_by_their_header(tmp_path, demo_root):
    bomb = write_png_bomb(tmp_path / "bomb.png")
    pil_limit = Image.MAX_IMAGE_PIXELS
    with pytest.raises(
        UserError, match=r"bomb.png: 20000x20000 is 400,000,000 pixels, over the limit"
    ) as err:
        load_image(bomb, 64)
    assert "max_image_pixels" in str(err.value) and "\n" not in str(err.value)
    image = demo_root / "Rock" / "rock_0000.jpg"  # 96x72
    with pytest.raises(UserError, match="96x72 is 6,912 pixels, over the limit of 6,911"):
        load_image(image, 64, max_pixels=6911)
    assert load_image(image, 64, max_pixels=6912).size == (96, 72)
    assert pil_limit == Image.MAX_IMAGE_PIXELS, "PIL's own limit is left as it was"


def test_running_out_of_memory_while_decoding_is_that_files_error(tmp_path):
    """A limit raised past what memory holds: the bomb decodes until memory runs out (capped here at
    300 MB above what the process has mapped), and that is the file's one-line error."""
    bomb = write_png_bomb(tmp_path / "bomb.png")
    code = f"""
import re, resource
from genre_lightning.data.images import load_image
from genre_lightning.errors import UserError
mapped = int(re.search(r"VmSize:\\s+(\\d+) kB", open("/proc/self/status").read()).group(1)) * 1024
resource.setrlimit(resource.RLIMIT_AS, (mapped + 300 * 2**20, resource.RLIM_INFINITY))
try:
    load_image({str(bomb)!r}, 64, max_pixels=10**9)
except UserError as err:
    print(err)
"""
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.stdout.strip() == (
        f"{bomb}: out of memory decoding the 20000x20000 image; remove the file or lower max_image_pixels"
    ), proc.stderr[-2000:]


def test_a_name_with_a_tab_or_newline_is_escaped_in_bad_files_and_in_the_error_line(tmp_path):
    folder = tmp_path / "Rock"
    folder.mkdir()
    names = ["cut\nshort.jpg", "two\tcolumns.jpg"]
    for name in names:
        (folder / name).write_bytes(b"not an image")
    bad = bad_images([str(folder / name) for name in names], 64, MAX_PIXELS, None)
    shown = [repr(str(folder / name)) for name in names]
    # the reasons name the real files, each on one line
    assert [reason.split(": cannot read the image")[0] for _, reason in bad] == shown
    lines = format_bad_files(bad).splitlines()
    assert [line.split("\t")[0] for line in lines] == shown and len(lines) == 2
    assert [ast.literal_eval(line.split("\t")[0]) for line in lines] == [str(folder / n) for n in names]
    summary = BadImages(bad).summary("bad_files.txt")
    assert "\n" not in summary and f"also {shown[1]}; all listed in bad_files.txt" in summary
