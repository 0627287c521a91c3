import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf
from PIL import Image

from genre_lightning.audio.dataset import build_dataset, find_songs
from genre_lightning.audio.rendering import Rendering, read_marker, write_marker
from genre_lightning.audio.spectrogram import SpectrogramSpec, load_audio, render
from genre_lightning.constants import BUILD_LOCK, DEMO_MARKER
from genre_lightning.constants import RENDER_LOG as LOG
from genre_lightning.constants import RENDERING_MARKER as MARKER
from genre_lightning.data.splits import discover
from genre_lightning.demo.dataset import make_demo_dataset
from genre_lightning.errors import UserError

ROOT = Path(__file__).resolve().parents[2]
# one image per second of audio, small enough to be cheap
SMALL = Rendering(SpectrogramSpec(width=48, height=32), window_seconds=1.0, jpeg_quality=90)
FORMATS = [".wav", ".flac", ".ogg", ".mp3"]


@pytest.fixture
def src(tmp_path, write_song):
    """Two genres, a 1.2 s tone per format in each (one window), a 3 s song, and a file that is not audio."""
    root = tmp_path / "audio"
    for g, genre in enumerate(["Pop", "Rock"]):
        for i, ext in enumerate(FORMATS):
            write_song(root / genre / f"song{i}{ext}", seconds=1.2, genre=None, seed=g * 4 + i)
    write_song(root / "Rock" / "live" / "long.wav", seconds=3.0, genre=None, seed=9)
    (root / "Pop" / "broken.mp3").write_bytes(b"not audio at all" * 20)
    return root


def files(root):
    """Every file's mtime, but the lock's (each run writes its pid there)."""
    return {
        p.relative_to(root).as_posix(): p.stat().st_mtime_ns
        for p in root.rglob("*")
        if p.is_file() and p.name != BUILD_LOCK
    }


def test_builds_genre_folders_from_every_format_and_reports_the_bad_file(src, tmp_path):
    out = tmp_path / "images"
    report = build_dataset(find_songs(src), out, SMALL)
    assert (report.songs, report.rendered, report.skipped, report.images) == (10, 9, 0, 11)
    assert [
        (song, "broken.mp3" in reason and "not an audio file" in reason) for song, reason in report.failed
    ] == [("Pop/broken.mp3", True)]
    classes, images = discover(out, None)
    assert classes == ["Pop", "Rock"]
    names = {genre: [p.rsplit("/", 1)[1] for p in paths] for genre, paths in images.items()}
    assert names["Pop"] == [f"song{i}.jpg" for i in range(4)]
    # a song three windows long gives three images
    assert names["Rock"] == [
        "long-000.jpg",
        "long-001.jpg",
        "long-002.jpg",
        *(f"song{i}.jpg" for i in range(4)),
    ]
    for path in images["Rock"]:
        with Image.open(path) as image:
            assert (image.format, image.mode, image.size) == ("JPEG", "RGB", (48, 32))
    assert read_marker(out) == SMALL
    assert not [p for p in out.rglob("*.tmp")]


def test_images_are_the_renderers_magma_spectrograms_as_jpeg(tmp_path, write_song):
    spec = SpectrogramSpec(width=256, height=192)
    song = write_song(tmp_path / "rock.wav", seconds=2.0)
    parts = Rendering(spec, window_seconds=1.0).render_file(song)
    assert [(part.start, part.end) for part in parts] == [(0.0, 1.0), (1.0, 2.0)]
    first = Image.open(io.BytesIO(parts[0].jpeg))
    assert (first.format, first.mode, first.size) == ("JPEG", "RGB", (256, 192))
    exact = np.asarray(render(load_audio(song, spec.sample_rate)[: spec.sample_rate], spec), dtype=float)
    assert np.abs(np.asarray(first, dtype=float) - exact).mean() < 4  # only JPEG's loss in between
    tone = write_song(tmp_path / "tone.flac", seconds=1.0, genre=None)  # 220 Hz: a low band, near the bottom
    image = np.asarray(Image.open(io.BytesIO(Rendering(spec).render_file(tone)[0].jpeg)), dtype=float)
    assert image.sum(axis=(1, 2)).argmax() > 0.75 * spec.height


def test_a_second_run_renders_nothing_and_touches_no_file(src, tmp_path):
    out = tmp_path / "images"
    build_dataset(find_songs(src), out, SMALL)
    before = files(out)
    report = build_dataset(find_songs(src), out, SMALL)
    assert (report.rendered, report.skipped, report.images) == (0, 9, 0)
    assert [song for song, _ in report.failed] == ["Pop/broken.mp3"]  # unreadable files are tried again
    assert files(out) == before


def test_an_interrupted_run_redoes_only_unfinished_songs(src, tmp_path):
    out = tmp_path / "images"
    build_dataset(find_songs(src), out, SMALL)
    (out / "Rock" / "long-001.jpg").unlink()  # a song whose images are not all there
    with (out / LOG).open("a") as log:
        log.write('{"source": "Pop/song0.wav", "gen')  # the torn last line of a killed run
    untouched = files(out)
    report = build_dataset(find_songs(src), out, SMALL)
    assert (report.rendered, report.images) == (1, 3)
    after = files(out)
    assert sorted(k for k in after if k.endswith(".jpg") and after[k] != untouched.get(k)) == [
        "Rock/long-000.jpg",
        "Rock/long-001.jpg",
        "Rock/long-002.jpg",
    ]


def test_a_second_builder_into_the_same_folder_is_refused_naming_the_first(src, tmp_path, held_elsewhere):
    out = tmp_path / "images"
    build_dataset(find_songs(src), out, SMALL)
    (out / "Rock" / "long-001.jpg").unlink()  # work left for a second run
    before = files(out)
    pid = held_elsewhere(
        f"from genre_lightning.files import hold_lock\nlock = hold_lock({str(out / BUILD_LOCK)!r})"
    )
    with pytest.raises(UserError, match=rf"another build_dataset.py is writing here \(pid {pid} on ") as err:
        build_dataset(find_songs(src), out, SMALL)
    assert str(out) in str(err.value) and "\n" not in str(err.value)
    assert files(out) == before, "nothing rendered twice, no line added to the log"


def test_labels_csv_names_each_song_and_its_genre(src, tmp_path):
    labels = tmp_path / "labels.csv"
    labels.write_text(
        "track,label\nPop/song0.wav,Jazz\nRock/song1.flac,Jazz\nRock/live/long.wav,Blues\nmissing.mp3,Blues\n"
    )
    out = tmp_path / "images"
    report = build_dataset(find_songs(src, labels, "track", "label"), out, SMALL)
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.jpg")) == [
        "Blues/long-000.jpg",
        "Blues/long-001.jpg",
        "Blues/long-002.jpg",
        "Jazz/song0.jpg",
        "Jazz/song1.jpg",
    ]
    assert [(song, "file not found" in reason) for song, reason in report.failed] == [("missing.mp3", True)]


def test_songs_sharing_a_name_get_distinct_images(tmp_path, write_song):
    for path in ["Rock/a/x.wav", "Rock/b/x.wav", "Rock/x.flac"]:
        write_song(tmp_path / "src" / path, seconds=1.0, genre=None)
    report = build_dataset(find_songs(tmp_path / "src"), tmp_path / "out", SMALL)
    assert report.images == 3
    assert sorted(p.name for p in (tmp_path / "out" / "Rock").iterdir()) == [
        "Rock__a__x_wav.jpg",
        "Rock__b__x_wav.jpg",
        "Rock__x_flac.jpg",
    ]


def test_workers_write_the_same_dataset(src, tmp_path):
    build_dataset(find_songs(src), tmp_path / "serial", SMALL, workers=0)
    build_dataset(find_songs(src), tmp_path / "parallel", SMALL, workers=2)
    serial, parallel = files(tmp_path / "serial"), files(tmp_path / "parallel")
    assert serial.keys() == parallel.keys()
    for name in serial:
        if name.endswith(".jpg"):
            assert (tmp_path / "serial" / name).read_bytes() == (tmp_path / "parallel" / name).read_bytes()


def test_refuses_other_settings_and_folders_it_did_not_make(src, tmp_path):
    out = tmp_path / "images"
    build_dataset(find_songs(src), out, SMALL)
    with pytest.raises(UserError, match=r"other rendering settings \(window_seconds: 1.0 there, 2.0 now\)"):
        build_dataset(find_songs(src), out, Rendering(SMALL.spec, window_seconds=2.0, jpeg_quality=90))
    precious = tmp_path / "precious"
    (precious / "Rock").mkdir(parents=True)
    with pytest.raises(UserError, match="not empty and holds no spectrogram.json"):
        build_dataset(find_songs(src), precious, SMALL)


@pytest.mark.parametrize(
    "labels, message",
    [
        (None, "no audio files"),
        ("path,genre\nx.wav,../up\n", r"labels.csv:2: genre '../up' cannot be a folder name"),
        ("file,genre\nx.wav,Rock\n", r"no column\(s\) \['path'\]"),
    ],
)
def test_bad_sources_are_one_line_errors(tmp_path, labels, message):
    (tmp_path / "src" / "Rock").mkdir(parents=True)
    csv = None
    if labels:
        csv = tmp_path / "labels.csv"
        csv.write_text(labels)
    with pytest.raises(UserError, match=message):
        find_songs(tmp_path / "src", csv)


def test_markers_record_the_rendering_and_the_demo_set_counts_as_one(tmp_path):
    write_marker(tmp_path / "a", SMALL)
    assert json.loads((tmp_path / "a" / MARKER).read_text())["spec"]["width"] == 48
    assert read_marker(tmp_path / "a") == SMALL
    demo = make_demo_dataset(
        tmp_path / "demo", per_class=1, seconds=1.0, spec=SpectrogramSpec(width=32, height=24)
    )
    assert read_marker(demo) == Rendering(SpectrogramSpec(width=32, height=24), 1.0, None, 90)
    assert read_marker(tmp_path) is None
    (tmp_path / "a" / MARKER).write_text("{broken")
    with pytest.raises(UserError, match="unreadable rendering marker"):
        read_marker(tmp_path / "a")


@pytest.mark.parametrize(
    "name, content, message",
    [
        (MARKER, {"spec": {"width": 48.5}}, r"SpectrogramSpec.width must be int, got 48.5"),
        (MARKER, {"window_seconds": True}, r"rendering.window_seconds must be float or null, got True"),
        (MARKER, ["spec"], r"rendering must be a mapping of its settings, got list"),
        (DEMO_MARKER, {"spec": {}, "seconds": "3"}, r"seconds must be a number, got '3'"),
    ],
)
def test_a_marker_is_read_as_plain_values_of_their_types(tmp_path, name, content, message):
    (tmp_path / name).write_text(json.dumps(content))
    with pytest.raises(UserError, match=rf"{name}: unreadable rendering marker \({message}\); rebuild"):
        read_marker(tmp_path)


def test_rendering_rejects_unknown_keys_and_bad_values():
    assert Rendering.from_dict(SMALL.to_dict()) == SMALL
    with pytest.raises(ValueError, match="unknown rendering keys: colour"):
        Rendering.from_dict({"colour": "magma", "spec": {}})
    with pytest.raises(ValueError, match="window_seconds must be positive"):
        Rendering(window_seconds=0)


def test_default_config_is_the_published_rendering():
    with initialize_config_dir(version_base="1.3", config_dir=str(ROOT / "configs")):
        cfg = compose(config_name="build_dataset", overrides=["src=a", "out=b"])
    assert Rendering.from_dict(OmegaConf.to_container(cfg.rendering)) == Rendering()
    assert Rendering().spec == SpectrogramSpec() and (Rendering().spec.width, Rendering().spec.height) == (
        1984,
        1478,
    )


def test_command_line_reports_and_exits_1_when_a_file_failed(src, tmp_path):
    out = tmp_path / "images"
    args = [
        f"src={src}",
        f"out={out}",
        "rendering.window_seconds=1",
        "rendering.spec.width=48",
        "rendering.spec.height=32",
    ]
    result = subprocess.run(
        [sys.executable, str(ROOT / "build_dataset.py"), *args], capture_output=True, text=True, cwd=ROOT
    )
    assert result.returncode == 1, result.stderr
    assert f"{out}: 9 songs rendered into 11 images, 0 already done, 1 failed (of 10)" in result.stdout
    assert "failed: " in result.stdout and "broken.mp3" in result.stdout


def test_command_line_usage_errors_exit_2(entry, src, tmp_path):
    result = entry("build_dataset.py", f"src={src}", f"out={tmp_path / 'x'}", "rendering.spec.fmax=99999")
    assert result.code == 2 and result.err.startswith("error: rendering: SpectrogramSpec needs")
    assert len(result.err.strip().splitlines()) == 1
    assert not (tmp_path / "x").exists()
