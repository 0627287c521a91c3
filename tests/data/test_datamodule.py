import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision.transforms import v2

from genre_lightning.data.datamodule import SpectrogramDataModule
from genre_lightning.data.images import load_image
from genre_lightning.data.splits import discover, make_split
from genre_lightning.errors import UserError


def fake_files(counts: dict[str, int]) -> dict[str, list[str]]:
    return {name: [f"/d/{name}/{i:03d}.jpg" for i in range(n)] for name, n in counts.items()}


def test_split_is_stratified_disjoint_and_complete():
    files = fake_files({"A": 50, "B": 30, "C": 20})
    split = make_split(files, test_fraction=0.2, num_folds=5, seed=1)
    test = [p for p, _ in split.test]
    folds = [[p for p, _ in part] for part in split.folds]
    every = test + [p for part in folds for p in part]
    assert len(every) == len(set(every)) == 100, "no file may be in two parts"
    assert Counter(label for _, label in split.test) == {0: 10, 1: 6, 2: 4}
    for part in split.folds:  # each fold holds every genre in proportion
        counts = Counter(label for _, label in part)
        assert abs(counts[0] - 8) <= 1 and abs(counts[1] - 4.8) <= 1 and abs(counts[2] - 3.2) <= 1
    for k in range(5):
        train, val = split.train_val(k)
        assert not set(train) & set(val) and not (set(train) | set(val)) & set(split.test)
        assert len(train) + len(val) == 80


def test_split_is_deterministic_and_seeded():
    files = fake_files({"A": 20, "B": 20})
    assert make_split(files, 0.2, 3, seed=7) == make_split(files, 0.2, 3, seed=7)
    assert make_split(files, 0.2, 3, seed=7).test != make_split(files, 0.2, 3, seed=8).test


def test_max_per_class_subsamples_each_genre():
    split = make_split(fake_files({"A": 40, "B": 25}), 0.2, 2, seed=0, max_per_class=10)
    counts = Counter(label for _, label in split.items)
    assert counts == {0: 10, 1: 10}


def test_too_few_images_for_the_folds_is_a_clear_error():
    with pytest.raises(UserError, match="'B' has 3 images.*num_folds"):
        make_split(fake_files({"A": 20, "B": 3}), 0.2, 5, seed=0)


def make_folder(root, layout: dict[str, int]):
    """Genre folders of small JPEGs: 80x60, so the scan does not find them far below the default 224 px."""
    for name, n in layout.items():
        (root / name).mkdir(parents=True)
        for i in range(n):
            Image.new("RGB", (80, 60), (i * 20 % 255, 0, 0)).save(root / name / f"{i}.jpg")
    return root


def test_discover_ignores_hidden_and_non_image_files(tmp_path):
    root = make_folder(tmp_path / "d", {"Rock": 3, "Folk": 2})
    (root / ".DS_Store").write_text("x")
    (root / "Rock" / ".DS_Store").write_text("x")
    (root / "Rock" / "notes.txt").write_text("x")
    (root / ".cache").mkdir()
    classes, files = discover(root, None)
    assert classes == ["Folk", "Rock"]
    assert [len(files[c]) for c in classes] == [2, 3]


def test_classes_select_and_order_genres(tmp_path):
    root = make_folder(tmp_path / "d", {"Rock": 2, "Folk": 2, "Pop": 2})
    classes, files = discover(root, ["Rock", "Pop"])
    assert classes == ["Rock", "Pop"] and set(files) == {"Rock", "Pop"}


@pytest.mark.parametrize(
    "layout, classes, message",
    [
        (None, None, "dataset folder not found"),
        ({"Rock": 2, "Folk": 0}, None, r"\['Folk'\] hold no .jpg"),
        (
            {"Rock": 2, "Folk": 2},
            ["Rock", "Jazz"],
            r"no folder for genre\(s\) \['Jazz'\]; found \['Folk', 'Rock'\]",
        ),
    ],
)
def test_layout_errors_name_what_was_found(tmp_path, layout, classes, message):
    root = tmp_path / "d"
    if layout is not None:
        make_folder(root, layout)
    with pytest.raises(UserError, match=message) as err:
        discover(root, classes)
    assert str(root) in str(err.value) and "\n" not in str(err.value)


@pytest.fixture(scope="module")
def real_size_image(tmp_path_factory):
    """A smooth spectrogram-like picture at the real data's size, as JPEG and PNG."""
    y, x = np.mgrid[0:1478, 0:1984]
    array = np.stack([(x / 1984 * 255), (y / 1478 * 255), ((x + y) % 256)], -1).astype(np.uint8)
    folder = tmp_path_factory.mktemp("big")
    Image.fromarray(array).save(folder / "big.jpg", quality=90)
    Image.fromarray(array).save(folder / "big.png", compress_level=1)
    return folder


@pytest.mark.parametrize("suffix", ["jpg", "png"])
def test_reduced_decode_matches_full_decode_after_resize(real_size_image, suffix):
    path = real_size_image / f"big.{suffix}"
    resize = v2.Compose([v2.Resize(224), v2.CenterCrop(224), v2.PILToTensor()])
    fast = resize(load_image(path, min_size=224)).float()
    full = resize(load_image(path)).float()
    assert fast.shape == full.shape == (3, 224, 224)
    assert (fast - full).abs().mean() < 3.0, "the reduced decode must look like the full decode"


@pytest.mark.parametrize(
    "min_size, jpg_size, png_size",
    [
        (256, (496, 370), (397, 296)),
        (184, (248, 185), (248, 185)),
        (400, (992, 739), (662, 493)),
        (2000, (1984, 1478), (1984, 1478)),
    ],
)
def test_decode_takes_the_largest_reduction_that_keeps_min_size(
    real_size_image, min_size, jpg_size, png_size
):
    # libjpeg scales by 1/2, 1/4 or 1/8 only; other formats by any whole factor
    assert load_image(real_size_image / "big.jpg", min_size).size == jpg_size
    assert load_image(real_size_image / "big.png", min_size).size == png_size


def test_unreadable_image_names_the_file(tmp_path):
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"not a jpeg")
    with pytest.raises(UserError, match="broken.jpg: cannot read the image"):
        load_image(bad)


@pytest.mark.parametrize("resident", [False, True])
def test_datamodule_loaders_yield_uint8_batches(demo_root, resident):
    dm = SpectrogramDataModule(
        root=str(demo_root),
        num_folds=2,
        batch_size=8,
        num_workers=0,
        image_size=64,
        resize_size=64,
        resident=resident,
    )
    dm.setup("fit")
    assert dm.class_names == sorted(p.name for p in demo_root.iterdir() if p.is_dir())
    images, labels = next(iter(dm.train_dataloader()))
    assert images.dtype == torch.uint8 and images.shape == (8, 3, 64, 64)
    assert labels.dtype == torch.int64
    loaders = {"train": dm.train_dataloader(), "val": dm.val_dataloader(), "test": dm.test_dataloader()}
    # train, validation and test together hold every image on disk once
    # a DataLoader's dataset, or the resident batches themselves, list their files and labels
    datasets = {name: getattr(loader, "dataset", loader) for name, loader in loaders.items()}
    listed = [path for dataset in datasets.values() for path in dataset.files]
    assert sorted(listed) == sorted(str(p) for p in demo_root.glob("*/*.jpg"))
    # every label names the image's folder: in the datasets, and in the batches the loaders yield
    for dataset in datasets.values():
        assert [dm.class_names[y] for y in dataset.labels] == [Path(f).parent.name for f in dataset.files]
    for name in ("val", "test"):  # unshuffled: batches follow the file list
        batched = torch.cat([labels for _, labels in loaders[name]]).tolist()
        assert [dm.class_names[y] for y in batched] == [Path(f).parent.name for f in datasets[name].files]
    assert json.loads(json.dumps(dm.split.to_dict()))["classes"] == dm.class_names


def test_windows_of_one_song_stay_in_one_part():
    from genre_lightning.data.splits import song_of

    files = {g: [f"/d/{g}/song{s:02d}-{w:03d}.jpg" for s in range(10) for w in range(3)] for g in ("A", "B")}
    split = make_split(files, test_fraction=0.2, num_folds=4, seed=3, group=song_of)
    parts = [split.test, *split.folds]
    owner = {}
    for k, part in enumerate(parts):
        for path, _ in part:
            assert owner.setdefault(song_of(path), k) == k, f"{path} split from its song"
    assert len(split.test) == 2 * 2 * 3, "20% of 10 songs per genre, 3 windows each"
    assert song_of("/d/A/song07-002.jpg") == song_of("/d/A/song07-000.jpg") != song_of("/d/A/song08-000.jpg")
    assert song_of("/d/A/000729.jpg") == "/d/A/000729"


def test_datamodule_splits_built_datasets_by_song(tmp_path):
    from genre_lightning.audio.rendering import Rendering, write_marker

    root = make_folder(tmp_path / "d", {"Rock": 0, "Folk": 0})
    for genre in ("Rock", "Folk"):
        for song in range(6):
            for window in range(2):
                Image.new("RGB", (80, 60)).save(root / genre / f"s{song}-{window:03d}.jpg")
    write_marker(root, Rendering())
    dm = SpectrogramDataModule(root=str(root), num_folds=2, test_fraction=0.34)
    dm.setup()
    test_songs = {p.rsplit("-", 1)[0] for p, _ in dm.split.test}
    fold_songs = {p.rsplit("-", 1)[0] for part in dm.split.folds for p, _ in part}
    assert test_songs and not test_songs & fold_songs and len(dm.split.test) == 2 * len(test_songs)


def test_a_bad_image_in_a_loader_worker_is_reported_on_one_line(tmp_path, capsys):
    from torch.utils.data import DataLoader

    from genre_lightning.data.images import ImageFiles
    from genre_lightning.errors import exit_on_user_error

    bad = tmp_path / "Rock" / "broken.jpg"
    bad.parent.mkdir()
    bad.write_bytes(b"not a jpeg")
    loader = DataLoader(ImageFiles([str(bad)], [0], v2.PILToTensor(), load_image), num_workers=1)
    with pytest.raises(SystemExit) as stop:
        exit_on_user_error(lambda: next(iter(loader)))()
    err = capsys.readouterr().err
    assert stop.value.code == 2 and err.count("\n") == 1
    assert err.startswith(f"error: {bad}: cannot read the image") and "Traceback" not in err


def test_the_datamodule_owns_which_folds_are_trained(tmp_path):
    root = make_folder(tmp_path / "d", {"Rock": 6, "Folk": 6})
    assert SpectrogramDataModule(root=str(root), num_folds=3).settings.selected_folds == [0, 1, 2]
    one = SpectrogramDataModule(root=str(root), num_folds=3, fold=2)
    one.setup()
    assert one.settings.selected_folds == [2]
    # the validation loader of the selected fold holds exactly that fold's files
    assert sorted(one.val_dataloader().files) == sorted(p for p, _ in one.split.folds[2])
    one.use_fold(0)
    assert sorted(one.val_dataloader().files) == sorted(p for p, _ in one.split.folds[0])
    with pytest.raises(UserError, match=r"data.fold=3: must be in 0..2"):
        SpectrogramDataModule(root=str(root), num_folds=3, fold=3)


def test_data_prepare_makes_a_missing_root_and_leaves_an_existing_one(tmp_path):
    prepare = {"_target_": "pathlib.Path.mkdir", "parents": True}
    dm = SpectrogramDataModule(root=str(tmp_path / "new"), num_folds=2, prepare=prepare)
    dm.prepare_data()
    assert (tmp_path / "new").is_dir()
    # an existing folder is not prepared again (mkdir would fail on it without exist_ok)
    dm.prepare_data()
