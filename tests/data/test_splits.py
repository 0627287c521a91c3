"""Genre folders with sub-folders: every image below a genre folder is the genre's, hidden folders are not,
and the scan cache and the song grouping work on the paths found there."""

import logging

from PIL import Image

from genre_lightning.data.scan import scan
from genre_lightning.data.splits import discover, make_split, song_of


def image(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (80, 60), (len(str(path)) * 7 % 255, 0, 0)).save(path)


def test_images_in_sub_folders_of_a_genre_folder_are_the_genres(tmp_path):
    root = tmp_path / "d"
    for name in ("Rock/a.jpg", "Rock/album 1/b.jpg", "Rock/album 1/disc 2/c.PNG", "Folk/x/y/z.jpeg"):
        image(root / name)
    # hidden folders (a cache, .git, a viewer's thumbnails) and other files are not images of the genre
    for name in ("Rock/.thumbnails/a.jpg", "Rock/album 1/.cache/b.jpg", "Folk/x/.z.jpg"):
        image(root / name)
    (root / "Folk" / "x" / "notes.txt").write_text("x")
    classes, files = discover(root, None)
    assert classes == ["Folk", "Rock"]
    assert files == {
        "Folk": [str(root / "Folk/x/y/z.jpeg")],
        "Rock": [str(root / p) for p in ("Rock/a.jpg", "Rock/album 1/b.jpg", "Rock/album 1/disc 2/c.PNG")],
    }


def test_windows_in_sub_folders_stay_with_their_song_and_songs_of_one_name_stay_apart(tmp_path):
    root = tmp_path / "d"
    for genre in ("A", "B"):
        for album in ("one", "two"):
            for song in range(4):
                for window in range(3):
                    image(root / genre / album / f"song{song}-{window:03d}.jpg")
    _, files = discover(root, None)
    split = make_split(files, test_fraction=0.25, num_folds=2, seed=0, group=song_of)
    owner = {}
    for k, part in enumerate([split.test, *split.folds]):
        for path, _ in part:
            assert owner.setdefault(song_of(path), k) == k, f"{path} split from its song"
    # song0 of album one and song0 of album two are two songs: 8 per genre
    assert len(owner) == 16 and len(split.test) == 2 * 2 * 3


def test_the_scan_cache_holds_relative_paths_in_sub_folders(tmp_path, monkeypatch, caplog):
    monkeypatch.chdir(tmp_path)
    for name in ("Rock/a.jpg", "Rock/album/b.jpg", "Folk/album/deeper/c.jpg"):
        image(tmp_path / "data" / name)
    _, found = discover("data", None)
    files = [path for paths in found.values() for path in paths]
    assert files == ["data/Folk/album/deeper/c.jpg", "data/Rock/a.jpg", "data/Rock/album/b.jpg"]
    with caplog.at_level(logging.INFO):
        first = scan(files, 10**6, "cache")
        second = scan(files, 10**6, "cache")
    assert first == second == {path: {"size": [80, 60]} for path in files}
    assert "3 checked, 0 unchanged" in caplog.text and "0 checked, 3 unchanged" in caplog.text
