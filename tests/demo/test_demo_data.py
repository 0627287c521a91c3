import json

import numpy as np
import pytest
import soundfile as sf
from PIL import Image

from genre_lightning.audio.spectrogram import SpectrogramSpec, load_audio
from genre_lightning.constants import DEMO_MARKER as MARKER
from genre_lightning.demo.dataset import main, make_demo_dataset
from genre_lightning.demo.synth import GENRES, synthesize

TINY = dict(per_class=6, seconds=3.0, spec=SpectrogramSpec(width=96, height=72))
# For tests about files rather than pixels: as little synthesis as possible.
MINI = dict(per_class=1, seconds=1.0, spec=SpectrogramSpec(width=32, height=24))


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return make_demo_dataset(tmp_path_factory.mktemp("a") / "demo", **TINY)


def files(root):
    return sorted(p.relative_to(root) for p in root.rglob("*") if p.is_file())


def test_tiny_dataset_has_every_genre_with_images_at_the_spec_size(tiny):
    assert sorted(p.name for p in tiny.iterdir() if p.is_dir()) == sorted(GENRES)
    for genre in GENRES:
        images = sorted((tiny / genre).glob("*.jpg"))
        assert [p.name for p in images] == [f"{genre.lower()}_{i:04d}.jpg" for i in range(6)]
        for path in images:
            with Image.open(path) as image:
                assert (image.format, image.mode, image.size) == ("JPEG", "RGB", (96, 72))


def test_marker_records_the_parameters(tiny):
    marker = json.loads((tiny / MARKER).read_text())
    assert marker["per_class"] == 6 and marker["seconds"] == 3.0 and marker["seed"] == 0
    assert SpectrogramSpec.from_dict(marker["spec"]) == TINY["spec"]
    assert isinstance(marker["generator"], int)


def test_same_arguments_give_byte_identical_files(tiny, tmp_path):
    again = make_demo_dataset(tmp_path / "b", **TINY)
    assert files(again) == files(tiny)
    for rel in files(tiny):
        assert (again / rel).read_bytes() == (tiny / rel).read_bytes(), rel


def test_genres_differ_in_the_expected_direction(tiny):
    def brightness(genre):
        return np.mean(
            [np.asarray(Image.open(p), dtype=np.float32).mean() for p in (tiny / genre).glob("*.jpg")]
        )

    # Dense distorted punk fills the spectrogram; sparse classical leaves it mostly dark.
    assert brightness("Punk") > brightness("Classical") + 20


def test_rerun_with_the_same_parameters_is_a_no_op(tiny):
    before = {rel: (tiny / rel).stat().st_mtime_ns for rel in files(tiny)}
    assert make_demo_dataset(tiny, **TINY) == tiny
    assert {rel: (tiny / rel).stat().st_mtime_ns for rel in files(tiny)} == before


def test_other_parameters_rebuild_in_place_without_leftovers(tmp_path):
    root = tmp_path / "demo"
    make_demo_dataset(root, **MINI)
    make_demo_dataset(root, **{**MINI, "per_class": 2})
    assert len(list((root / "Rock").glob("*.jpg"))) == 2
    assert json.loads((root / MARKER).read_text())["per_class"] == 2
    assert [p.name for p in tmp_path.iterdir()] == ["demo"]  # no temporary or old folders left beside it


def test_refuses_to_write_into_a_folder_that_is_not_a_demo_dataset(tmp_path):
    real = tmp_path / "my_music"
    (real / "Rock").mkdir(parents=True)
    (real / "Rock" / "song.jpg").write_bytes(b"precious")
    with pytest.raises(ValueError, match="real data folder.*choose another path") as info:
        make_demo_dataset(real, **MINI)
    assert str(real) in str(info.value) and "\n" not in str(info.value)
    assert files(real) == [real.joinpath("Rock", "song.jpg").relative_to(real)]


def test_an_existing_empty_folder_is_fine(tmp_path):
    (tmp_path / "demo").mkdir()
    make_demo_dataset(tmp_path / "demo", **MINI)
    assert (tmp_path / "demo" / MARKER).is_file()


def test_audio_dir_gets_a_wav_per_image(tmp_path):
    root = make_demo_dataset(tmp_path / "images", audio_dir=tmp_path / "audio", **MINI)
    for genre in GENRES:
        name = f"{genre.lower()}_0000"
        assert (root / genre / f"{name}.jpg").is_file()
        wav = tmp_path / "audio" / genre / f"{name}.wav"
        info = sf.info(wav)
        assert (info.samplerate, info.channels, info.frames) == (22050, 1, 22050)
        assert np.abs(load_audio(wav, 22050)).max() > 0.5


def test_a_missing_audio_dir_triggers_a_rebuild(tmp_path):
    make_demo_dataset(tmp_path / "images", **MINI)
    make_demo_dataset(tmp_path / "images", audio_dir=tmp_path / "audio", **MINI)
    assert len(list((tmp_path / "audio").rglob("*.wav"))) == len(GENRES)


def test_synthesize_gives_a_normalised_clip_of_the_requested_length():
    for g, genre in enumerate(GENRES):
        audio = synthesize(genre, np.random.default_rng(g), 0.5, 22050)
        assert audio.dtype == np.float32 and audio.shape == (11025,)
        assert np.isfinite(audio).all() and np.abs(audio).max() == pytest.approx(0.9)
    with pytest.raises(ValueError, match="unknown genre 'Jazz'"):
        synthesize("Jazz", np.random.default_rng(0), 1.0, 22050)


def test_cli_reports_where_it_wrote(tmp_path, capsys):
    out = tmp_path / "cli"
    main(["--out", str(out), "--per-class", "1", "--seconds", "1", "--seed", "3"])
    assert str(out) in capsys.readouterr().out
    assert json.loads((out / MARKER).read_text())["seed"] == 3
