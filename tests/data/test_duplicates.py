"""Duplicate pictures: planted copies (re-encoded at JPEG quality 60, resized by a pixel, filed under a second
genre) found by the scan's fingerprints and kept in one part; conflicts stopped, or resolved by
data.duplicates; and with no duplicates the split is the one make_split always drew."""

import csv
import hashlib
import io
import json

import numpy as np
import pytest
from PIL import Image

from genre_lightning.data.drawing import DuplicateConflicts, draw_split
from genre_lightning.data.duplicates import (
    NEAR_RMS,
    DuplicateGroup,
    duplicate_groups,
    format_groups,
    near_pairs,
)
from genre_lightning.data.scan import scan
from genre_lightning.data.settings import DataSettings
from genre_lightning.data.splits import Split, SplitLeak, check_disjoint, discover, make_split


def picture(seed: int) -> Image.Image:
    """A spectrogram-like 96x72 picture: smooth random structure, unlike any other seed's."""
    rng = np.random.default_rng(seed)
    coarse = rng.random((9, 12)) * 255
    return Image.fromarray(coarse.astype(np.uint8)).resize((96, 72), Image.BICUBIC).convert("RGB")


def make_folder(root, per_genre=8, genres=("Folk", "Rock")):
    for g, genre in enumerate(genres):
        (root / genre).mkdir(parents=True)
        for i in range(per_genre):
            picture(100 * g + i).save(root / genre / f"{genre.lower()}{i:02d}.jpg", quality=90)
    return root


def settings(root, **values):
    return DataSettings(root=str(root), **{"num_folds": 2, "test_fraction": 0.25, "seed": 7, **values})


def drawn(root, **values):
    _, found = discover(root, None)
    every = [p for paths in found.values() for p in paths]
    return draw_split(root, found, scan(every, 10**8, None), settings(root, **values))


@pytest.fixture
def planted(tmp_path):
    """Folk and Rock, 8 pictures each, and three planted copies: folk00 re-saved at quality 60, folk01
    resized by a pixel (as PNG), and rock00 copied byte for byte into Folk."""
    root = make_folder(tmp_path / "d")
    with Image.open(root / "Folk/folk00.jpg") as image:
        image.save(root / "Folk/folk00_q60.jpg", quality=60)
    with Image.open(root / "Folk/folk01.jpg") as image:
        image.resize((95, 72), Image.BICUBIC).save(root / "Folk/folk01_small.png")
    (root / "Folk/rock00_copy.jpg").write_bytes((root / "Rock/rock00.jpg").read_bytes())
    return root


def test_planted_copies_are_found_and_nothing_else(planted):
    _, found = discover(planted, None)
    every = [p for paths in found.values() for p in paths]
    groups = duplicate_groups(every, scan(every, 10**8, None))
    named = sorted((g.kind, sorted(p.split("/d/")[1] for p in g.files)) for g in groups)
    assert named == [
        ("exact", ["Folk/rock00_copy.jpg", "Rock/rock00.jpg"]),
        ("near", ["Folk/folk00.jpg", "Folk/folk00_q60.jpg"]),
        ("near", ["Folk/folk01.jpg", "Folk/folk01_small.png"]),
    ]


def test_a_copy_in_a_second_genre_stops_the_run_or_is_resolved(planted):
    with pytest.raises(DuplicateConflicts) as err:
        drawn(planted)
    message = str(err.value)
    assert message.startswith("1 duplicate group(s) cross genres") and "\n" not in message
    assert "rock00_copy.jpg (Folk)" in message and "data.duplicates=first" in message
    first = drawn(planted, duplicates="first")
    files = {p for p, _ in first.split.items}
    assert first.left_out == {str(planted / "Rock/rock00.jpg")}  # Folk/rock00_copy.jpg sorts first
    assert str(planted / "Folk/rock00_copy.jpg") in files and first.report["duplicates"]["left_out"] == 1
    dropped = drawn(planted, duplicates="drop")
    assert dropped.left_out == {str(planted / "Rock/rock00.jpg"), str(planted / "Folk/rock00_copy.jpg")}


def test_each_duplicate_group_stays_in_one_part_whatever_the_seed(planted):
    for seed in range(12):
        result = drawn(planted, duplicates="first", seed=seed)
        part_of = {p: name for name, items in result.split.parts.items() for p, _ in items}
        for group in result.duplicates:
            assert len({part_of[p] for p in group.files if p in part_of}) == 1, (seed, group.files)
        # the split is make_split's but for the duplicates moved to their group's first file's part
        _, found = discover(planted, None)
        kept = {name: [p for p in paths if p not in result.left_out] for name, paths in found.items()}
        plain = make_split(kept, 0.25, 2, seed)
        before = {p: name for name, items in plain.parts.items() for p, _ in items}
        grouped = {p for group in result.duplicates for p in group.files}
        assert {p for p in part_of if part_of[p] != before[p]} <= grouped - {
            g.files[0] for g in result.duplicates
        }
        assert result.report["checked"] == {
            "files_in_two_parts": 0,
            "songs_in_two_parts": 0,
            "duplicate_groups_in_two_parts": 0,
            "data_groups_in_two_parts": 0,
        }
        assert result.report["duplicates"] | {"near_rms": NEAR_RMS} == {
            "policy": "first",
            "groups": 3,
            "exact_groups": 1,
            "near_groups": 2,
            "files": 6,
            "left_out": 1,
            "near_rms": NEAR_RMS,
        }


def test_the_check_fails_loudly_on_a_file_or_group_in_two_parts():
    split = Split(["A"], [("a", 0)], [[("b", 0)], [("c", 0)]])
    assert check_disjoint(split, {"data_groups": {"a": "x", "b": "y"}})["data_groups_in_two_parts"] == 0
    with pytest.raises(SplitLeak, match="data_groups_in_two_parts': 1"):
        check_disjoint(split, {"data_groups": {"a": "x", "b": "x"}})
    with pytest.raises(SplitLeak, match="files_in_two_parts': 1"):
        check_disjoint(Split(["A"], [("a", 0)], [[("a", 0)], [("c", 0)]]), {})


def test_duplicates_txt_reads_back_any_file_name(tmp_path):
    odd = 'Rock/a\tname\nwith, comma "quoted".jpg'
    groups = [DuplicateGroup([odd, "Pop/b.jpg"], exact=True)]
    text = format_groups(groups, {odd: "Rock", "Pop/b.jpg": "Pop"}, {"Pop/b.jpg"})
    rows = list(csv.reader(io.StringIO(text)))
    assert rows == [
        ["group", "kind", "genre", "status", "path"],
        ["0", "exact", "Rock", "kept", odd],
        ["0", "exact", "Pop", "left out", "Pop/b.jpg"],
    ]


def test_near_pairs_skip_no_pair_within_the_limit():
    """The pruning by mean (a pair whose means differ by more than the limit cannot be within it) finds
    every pair that comparing all pairs finds, across blocks."""
    rng = np.random.default_rng(0)
    base = rng.integers(0, 256, (700, 256)).astype(np.float64)
    close = base[:300] + rng.normal(0, 1.0, (300, 256))
    both = np.concatenate([base, close])
    every = np.sqrt(((both[:, None, :] - both[None, :, :]) ** 2).mean(-1))
    expected = sorted((i, j) for i, j in zip(*np.nonzero(every <= NEAR_RMS)) if i < j)
    assert len(expected) >= 300 and near_pairs(both) == expected
    assert near_pairs(base[:300], close) == [(i, i) for i in range(300)]


def test_with_no_duplicates_the_split_is_the_one_make_split_draws(tmp_path):
    """No duplicates, no groups, no split file: file for file the split earlier versions drew (pinned by
    a digest of make_split's split, which draws it unchanged), so published figures stay reproducible."""
    root = make_folder(tmp_path / "d", per_genre=10, genres=("Folk", "Pop", "Rock"))
    result = drawn(root)
    classes, found = discover(root, None)
    assert result.duplicates == [] and result.split == make_split(found, 0.25, 2, seed=7)
    relative = {name: [p.split("/d/")[1] for p, _ in part] for name, part in result.split.parts.items()}
    assert hashlib.sha256(json.dumps(relative).encode()).hexdigest()[:16] == PINNED


# the digest of the split the code before duplicates, groups and given splits drew (commit 2453b70)
PINNED = "0b24736a35f1939a"
