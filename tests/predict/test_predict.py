import csv
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from conftest import write_png_bomb
from PIL import Image

from genre_lightning.audio.dataset import build_dataset, find_songs
from genre_lightning.audio.rendering import Rendering
from genre_lightning.audio.spectrogram import SpectrogramSpec
from genre_lightning.constants import AUDIO_EXTENSIONS, IMAGE_EXTENSIONS
from genre_lightning.demo.synth import synthesize
from genre_lightning.errors import UserError
from genre_lightning.predict.ensemble import Ensemble, find_checkpoints
from genre_lightning.predict.inference import file_loader, input_files, predict_files
from genre_lightning.predict.report import check_options, write_predictions

ROOT = Path(__file__).resolve().parents[2]
# the demo set of tests/conftest.py: 96x72 images of 3 s clips, saved at JPEG quality 90
DEMO_RENDERING = Rendering(SpectrogramSpec(width=96, height=72), window_seconds=3.0, jpeg_quality=90)


def run_predict(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(ROOT / "predict.py"), *args], capture_output=True, text=True, cwd=ROOT
    )


def table(stdout: str) -> dict[str, list[str]]:
    """file -> the other columns of predict's table (split on runs of 2+ spaces)."""
    header, *rows = stdout.strip().splitlines()
    assert header.split()[:4] == ["file", "genre", "prob", "top"]
    return {cells[0]: cells[1:] for cells in (re.split(r"\s{2,}", row) for row in rows)}


@pytest.fixture(scope="module")
def songs(tmp_path_factory):
    """Songs of three demo genres; Rock is 9 s long (three windows), the others one window."""
    root = tmp_path_factory.mktemp("songs")
    for seed, (genre, seconds, ext) in enumerate(
        [("Rock", 9.0, ".wav"), ("Punk", 3.0, ".flac"), ("Classical", 3.0, ".mp3")]
    ):
        (root / genre).mkdir()
        audio = synthesize(genre, np.random.default_rng(seed), seconds, 22050)
        sf.write(
            root / genre / f"{genre.lower()}{ext}",
            audio,
            22050,
            **({"format": "MP3"} if ext == ".mp3" else {}),
        )
    return root


def test_image_prints_a_table_with_the_top_genres(entry, trained_run, demo_root):
    summary = json.loads((trained_run / "cv_summary.json").read_text())
    ckpt = trained_run / summary["folds"][0]["checkpoint"]
    image = sorted((demo_root / "Punk").glob("*.jpg"))[0]
    result = entry("predict.py", f"ckpt={ckpt}", f"image={image}", "top_k=7")
    assert result.code == 0, result.err
    genre, prob, ranked = table(result.out)[str(image)]
    ranked = [
        (part.rsplit(" ", 1)[0], float(part.rsplit(" ", 1)[1].rstrip("%"))) for part in ranked.split(", ")
    ]
    assert sorted(n for n, _ in ranked) == sorted(summary["classes"])
    assert [p for _, p in ranked] == sorted((p for _, p in ranked), reverse=True)
    assert sum(p for _, p in ranked) == pytest.approx(100, abs=0.5)
    assert (genre, float(prob.rstrip("%"))) == ranked[0]
    probs = Ensemble([ckpt]).probabilities(Ensemble([ckpt]).preprocess(image).unsqueeze(0))[0]
    assert probs.max().item() * 100 == pytest.approx(ranked[0][1], abs=0.06)


def mixed_run(trained_run: Path, folder: Path) -> Path:
    """A run folder whose summary lists the trained run's fold 0 and a model of other genres."""
    folder.mkdir()
    state = torch.load(trained_run / "fold_1/checkpoints/best.ckpt", map_location="cpu", weights_only=False)
    state["hyper_parameters"]["class_names"] = state["hyper_parameters"]["class_names"][::-1]
    torch.save(state, folder / "other.ckpt")
    # a copy: a link out of the run folder is refused before the members are compared
    shutil.copy(trained_run / "fold_0/checkpoints/best.ckpt", folder / "fold.ckpt")
    summary = {"complete": True, "folds": [{"checkpoint": "fold.ckpt"}, {"checkpoint": "other.ckpt"}]}
    (folder / "cv_summary.json").write_text(json.dumps(summary))
    return folder


@pytest.mark.parametrize(
    "which, message",
    [
        ("image", "image not found"),
        ("ckpt", "checkpoint not found"),
        ("garbage", "not a genre-lightning checkpoint"),
        ("members", "other.ckpt: classes or preprocessing differ from"),
        ("nothing", "pass one of image="),
        ("both", "pass one of image="),
        ("empty", "no .jpg/.jpeg/.png files in this folder; pass image=<file or folder>"),
        ("output", "output=preds.txt: unknown format"),
        ("top_k", "top_k=0: must be at least 1"),
        ("batch_size", "batch_size=0: must be at least 1"),
        ("precision", "precision='fp8' is not supported"),
        ("rendering", "rendering: window_seconds must be positive"),
        ("device=tpu", "device=tpu: unknown; use auto, cpu, gpu, cuda, cuda:<n> or mps"),
        ("device=cuda:99", "device=cuda:99: this machine has"),
        pytest.param(
            "device=cuda",
            "device=cuda: this machine has 0 CUDA GPU(s); use device=auto or cpu",
            marks=pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA GPU is here"),
        ),
        pytest.param(
            "device=gpu",
            "device=gpu: this machine has no CUDA or MPS GPU",
            marks=pytest.mark.skipif(
                torch.cuda.is_available() or torch.backends.mps.is_available(), reason="a GPU is here"
            ),
        ),
    ],
)
def test_usage_errors_are_one_line_and_exit_2(entry, trained_run, demo_root, tmp_path, which, message):
    ckpt = next(trained_run.glob("fold_0/checkpoints/*.ckpt"))
    args = {"ckpt": str(ckpt), "image": str(next(demo_root.glob("Rock/*.jpg")))}
    extra = []
    if which == "image":
        args["image"] = str(tmp_path / "missing.jpg")
    elif which == "ckpt":
        args["ckpt"] = str(tmp_path / "missing.ckpt")
    elif which == "garbage":
        args["ckpt"] = str(tmp_path / "garbage.ckpt")
        Path(args["ckpt"]).write_bytes(b"\x00not a checkpoint")
    elif which == "members":
        args["ckpt"] = str(mixed_run(trained_run, tmp_path / "mixed"))
    elif which == "nothing":
        del args["image"]
    elif which == "both":
        args["audio"] = args["image"]
    elif which == "empty":
        args["image"] = str(tmp_path)
    elif which == "rendering":
        args["audio"] = args.pop("image")
        extra = ["rendering.window_seconds=-3"]
    elif which.startswith("device="):
        extra = [which]
    else:
        extra = [
            {"output": "output=preds.txt", "top_k": "top_k=0", "batch_size": "batch_size=0"}.get(which)
            or "precision=fp8"
        ]
    result = entry("predict.py", *(f"{k}={v}" for k, v in args.items()), *extra)
    assert result.code == 2
    assert message in result.err and "Traceback" not in result.err
    assert len(result.err.strip().splitlines()) == 1
    assert result.out == "", "nothing is predicted"


def takes_files(folder: Path) -> bool:
    try:
        (folder / "probe").touch()
    except OSError:
        return False
    (folder / "probe").unlink()
    return True


@pytest.fixture
def unwritable_folder(tmp_path):
    """A folder that takes no new files: a read-only one, or /sys for root (whom permissions do not stop)."""
    folder = tmp_path / "read-only"
    folder.mkdir(mode=0o500)
    found = [f for f in (folder, Path("/sys")) if f.is_dir() and not takes_files(f)]
    if not found:
        pytest.skip("every folder here takes new files")
    yield found[0]
    folder.chmod(0o700)  # so that pytest can remove it


def test_output_is_checked_before_predicting_and_never_replaced_unasked(
    entry, trained_run, demo_root, tmp_path, unwritable_folder
):
    args = [f"ckpt={trained_run}", f"image={next(demo_root.glob('Folk/*.jpg'))}"]
    existing = tmp_path / "preds.csv"
    existing.write_text("earlier results\n")
    (tmp_path / "folder.csv").mkdir()
    cases = [
        (existing, "the file exists; pass overwrite=true to replace it"),
        (
            tmp_path / "missing" / "preds.csv",
            f"folder {tmp_path / 'missing'} does not exist; create it first",
        ),
        (unwritable_folder / "preds.csv", f"cannot write in {unwritable_folder} ("),
        (tmp_path / "folder.csv", "is a folder; name a .csv or .json file"),
    ]
    for output, message in cases:
        result = entry("predict.py", *args, f"output={output}")
        assert result.code == 2 and result.err.startswith(f"error: output={output}: {message}"), result.err
        assert len(result.err.strip().splitlines()) == 1 and result.out == "", "refused before predicting"
    assert existing.read_text() == "earlier results\n"
    assert not (tmp_path / "missing").exists(), "no folder is made"

    replaced = entry("predict.py", *args, f"output={existing}", "overwrite=true")
    assert replaced.code == 0, replaced.err
    assert existing.read_text().startswith("file,genre,probability")


def test_doubtful_inputs_are_predicted_marked_and_warned(entry, trained_run, demo_root, tmp_path, write_song):
    """A 1x1 image and songs shorter than a window or silent get an answer, marked with the reason."""
    images = tmp_path / "images"
    images.mkdir()
    fine = images / "fine.jpg"
    fine.write_bytes(next(demo_root.glob("Pop/*.jpg")).read_bytes())
    Image.new("RGB", (1, 1), (200, 40, 10)).save(images / "tiny.png")
    result = entry(
        "predict.py", f"ckpt={trained_run}", f"image={images}", f"output={tmp_path / 'images.csv'}"
    )
    assert result.code == 0, result.err
    warning = "image is 1x1 px, enlarged 64x to the 64 px the model was trained at"
    assert result.err == f"warning: {images / 'tiny.png'}: {warning}\n"
    with open(tmp_path / "images.csv", newline="") as f:
        rows = {Path(row["file"]).name: row for row in csv.DictReader(f)}
    assert rows["tiny.png"]["warnings"] == warning and rows["tiny.png"]["genre"]
    assert rows["fine.jpg"]["warnings"] == ""

    songs = tmp_path / "songs"  # the demo run's window is 3 s
    write_song(songs / "short.wav", seconds=1.0)
    write_song(songs / "song.wav", seconds=3.0)
    sf.write(songs / "silence.flac", np.zeros(4 * 22050, dtype=np.float32), 22050)
    result = entry("predict.py", f"ckpt={trained_run}", f"audio={songs}", f"output={tmp_path / 'songs.json'}")
    assert result.code == 0, result.err
    doubts = {
        "short.wav": ["1.0 s of audio, shorter than the model's 3 s window (its spectrogram is stretched)"],
        "silence.flac": ["silent (RMS level under -60 dBFS)"],
        "song.wav": [],
    }
    predictions = json.loads((tmp_path / "songs.json").read_text())["predictions"]
    assert {Path(p["file"]).name: p["warnings"] for p in predictions} == doubts
    assert all(p["genre"] and p["error"] is None for p in predictions)
    assert result.err.splitlines() == [
        f"warning: {songs / name}: {message}"
        for name, messages in sorted(doubts.items())
        for message in messages
    ]


def test_run_folder_ensembles_the_fold_models(trained_run, demo_root):
    checkpoints = find_checkpoints(trained_run, runs_dir=trained_run.parent)
    assert [p.parent.parent.name for p in checkpoints] == ["fold_0", "fold_1"]
    ensemble = Ensemble(checkpoints)
    images = torch.stack([ensemble.preprocess(p) for p in sorted(demo_root.glob("Folk/*.jpg"))[:3]])
    singles = [Ensemble([ckpt]).probabilities(images) for ckpt in checkpoints]
    assert torch.allclose(ensemble.probabilities(images), (singles[0] + singles[1]) / 2, atol=1e-6)
    assert not torch.allclose(singles[0], singles[1]), "folds are different models"


def test_latest_picks_the_newest_finished_run(entry, trained_run, demo_root, tmp_path):
    runs = tmp_path / "runs"
    names = ["2025-01-01_09-00-00-000000", "2025-03-01_09-00-00-000000", "2025-05-01_09-00-00-000000"]
    for name in names:  # two finished runs (the trained one's folds), and a newer one still training
        (runs / name).mkdir(parents=True)
        # hard links: a run's own files, as a copy would be (a symbolic link out of a run folder is refused)
        for part in ("split.json", "fold_0", "fold_1", "cv_summary.json")[: 2 if name == names[-1] else 4]:
            if (trained_run / part).is_dir():
                shutil.copytree(trained_run / part, runs / name / part, copy_function=os.link)
            else:
                os.link(trained_run / part, runs / name / part)
    image = next(demo_root.glob("Pop/*.jpg"))
    result = entry(
        "predict.py", "ckpt=latest", f"runs_dir={runs}", f"image={image}", f"output={tmp_path / 'p.json'}"
    )
    assert result.code == 0, result.err
    assert str(image) in table(result.out.split("\nwrote ")[0])
    assert json.loads((tmp_path / "p.json").read_text())["checkpoints"] == [
        str(runs / names[1] / f"fold_{k}/checkpoints/best.ckpt") for k in (0, 1)
    ]
    empty = entry("predict.py", "ckpt=latest", f"runs_dir={trained_run.parent / 'nothing'}", f"image={image}")
    assert empty.code == 2 and "no finished training run" in empty.err


def test_checkpoints_record_how_their_images_were_rendered(trained_run):
    ensemble = Ensemble(find_checkpoints(trained_run, trained_run.parent))
    assert ensemble.preprocessing["spectrogram"] == DEMO_RENDERING.to_dict()
    assert ensemble.rendering() == (DEMO_RENDERING, True)
    overridden, _ = ensemble.rendering(
        {"window_seconds": 1.0, "hop_seconds": None, "spec": {"n_mels": 64, "width": None}}
    )
    assert overridden == Rendering(SpectrogramSpec(n_mels=64, width=96, height=72), 1.0, None, 90)


def test_a_checkpoint_without_a_record_renders_audio_as_the_published_data_and_warns(
    entry, trained_run, songs, tmp_path
):
    ckpt = next(trained_run.glob("fold_0/checkpoints/*.ckpt"))
    state = torch.load(ckpt, map_location="cpu", weights_only=False)
    del state["hyper_parameters"]["preprocessing"]["spectrogram"]  # as checkpoints from before the record
    old = tmp_path / "old.ckpt"
    torch.save(state, old)
    assert Ensemble([old]).rendering() == (Rendering(), False)
    result = entry("predict.py", f"ckpt={old}", f"audio={songs / 'Punk'}")
    assert result.code == 0, result.err
    assert result.err.startswith("warning: the checkpoint does not record how its images were rendered")
    assert list(table(result.out)) == [str(songs / "Punk" / "punk.flac")]


@pytest.fixture(scope="module")
def ensemble32(trained_run):
    """The trained run's folds in float32, where results are compared across batchings."""
    return Ensemble(find_checkpoints(trained_run, trained_run.parent), precision="32")


def test_audio_is_predicted_from_the_images_the_dataset_builder_makes(ensemble32, songs, tmp_path):
    """One renderer: a song's prediction is the mean over the images build_dataset writes for it."""
    ensemble = ensemble32
    rendering, _ = ensemble.rendering()
    build_dataset(find_songs(songs), tmp_path / "images", rendering)
    audio = predict_files(
        ensemble, input_files(songs, "audio", AUDIO_EXTENSIONS), file_loader(ensemble, rendering)
    )
    images = input_files(tmp_path / "images", "image", IMAGE_EXTENSIONS)
    per_image = {
        Path(p.file).name: p
        for p in predict_files(ensemble, images, file_loader(ensemble, None), batch_size=2)
    }
    assert [(Path(p.file).name, p.windows, p.error) for p in audio] == [
        ("classical.mp3", 1, None),
        ("punk.flac", 1, None),
        ("rock.wav", 3, None),
    ]
    assert [p.file.rsplit("/", 1)[1] for p in per_image.values()] == [
        "classical.jpg",
        "punk.jpg",
        "rock-000.jpg",
        "rock-001.jpg",
        "rock-002.jpg",
    ]
    expected = {
        "classical.mp3": torch.tensor(per_image["classical.jpg"].probabilities),
        "punk.flac": torch.tensor(per_image["punk.jpg"].probabilities),
        "rock.wav": torch.tensor([per_image[f"rock-00{k}.jpg"].probabilities for k in range(3)]).mean(dim=0),
    }
    for p in audio:
        assert torch.allclose(torch.tensor(p.probabilities), expected[Path(p.file).name], atol=1e-6), p.file


def test_batch_size_does_not_change_the_result(ensemble32, demo_root):
    ensemble = ensemble32
    files = input_files(demo_root / "Rock", "image", IMAGE_EXTENSIONS)[:5]
    one = predict_files(ensemble, files, file_loader(ensemble, None), batch_size=1)
    many = predict_files(ensemble, files, file_loader(ensemble, None), batch_size=4)
    assert torch.allclose(
        torch.tensor([p.probabilities for p in one]), torch.tensor([p.probabilities for p in many]), atol=1e-5
    )


def test_a_song_split_across_batches_is_the_mean_of_its_windows(ensemble32, songs):
    rendering, _ = ensemble32.rendering()
    files = input_files(songs, "audio", AUDIO_EXTENSIONS)  # classical (1 window), punk (1), rock (3)
    windows = [ensemble32.preprocess_audio(path, rendering)[0] for path in files]
    expected = torch.stack([ensemble32.probabilities(torch.stack(w)).mean(dim=0) for w in windows])
    for batch_size in (1, 2, 4):  # rock's windows straddle two forward passes at 2 and 4
        predictions = predict_files(ensemble32, files, file_loader(ensemble32, rendering), batch_size)
        assert [p.windows for p in predictions] == [1, 1, 3]
        got = torch.tensor([p.probabilities for p in predictions])
        assert torch.allclose(got, expected, atol=1e-5), batch_size


def test_bf16_and_fp32_predictions_agree(trained_run, ensemble32, demo_root):
    bf16 = Ensemble(find_checkpoints(trained_run, trained_run.parent), precision="bf16")
    assert bf16.bf16 and not ensemble32.bf16
    images = torch.stack([bf16.preprocess(path) for path in sorted(demo_root.glob("*/*_0001.jpg"))])
    low, full = bf16.probabilities(images), ensemble32.probabilities(images)
    assert low.dtype == full.dtype == torch.float32
    assert not torch.equal(low, full), "bf16 really ran"
    assert (low - full).abs().max() < 0.03


def test_folder_with_a_bad_file_gets_an_error_row_csv_and_json(entry, trained_run, demo_root, tmp_path):
    folder = tmp_path / "images"
    for genre in ("Rock", "Folk"):
        (folder / genre).mkdir(parents=True)
        for path in sorted((demo_root / genre).glob("*.jpg"))[:2]:
            (folder / genre / path.name).write_bytes(path.read_bytes())
    (folder / "Rock" / "broken.jpg").write_bytes(b"not a jpeg")
    (folder / "notes.txt").write_text("not an image, not listed")
    expected = [str(p) for p in sorted(folder.rglob("*.jpg"))]
    assert len(expected) == 5

    result = entry(
        "predict.py", f"ckpt={trained_run}", f"image={folder}", "top_k=2", f"output={tmp_path / 'preds.csv'}"
    )
    assert result.code == 1, result.err
    rows = table(result.out.split("\nwrote ")[0])
    assert list(rows) == expected
    assert rows[str(folder / "Rock" / "broken.jpg")][0] == "ERROR"
    assert "cannot read the image" in rows[str(folder / "Rock" / "broken.jpg")][-1]

    with open(tmp_path / "preds.csv", newline="") as f:
        records = list(csv.DictReader(f))
    classes = json.loads((trained_run / "cv_summary.json").read_text())["classes"]
    assert [r["file"] for r in records] == expected
    bad = next(r for r in records if r["file"].endswith("broken.jpg"))
    assert bad["genre"] == "" and "cannot read the image" in bad["error"] and bad[classes[0]] == ""
    for r in records:
        if r is bad:
            continue
        probs = {c: float(r[c]) for c in classes}
        assert sum(probs.values()) == pytest.approx(1, abs=1e-4)
        assert r["genre"] == max(probs, key=probs.get) and float(r["probability"]) == pytest.approx(
            max(probs.values()), abs=1e-5
        )
        assert [t.split(":")[0] for t in r["top_k"].split()] == sorted(probs, key=probs.get, reverse=True)[:2]
        assert r["windows"] == "1" and r["error"] == ""

    result = entry(
        "predict.py", f"ckpt={trained_run}", f"image={folder}", f"output={tmp_path / 'preds.json'}"
    )
    assert result.code == 1
    report = json.loads((tmp_path / "preds.json").read_text())
    assert report["classes"] == classes and len(report["checkpoints"]) == 2
    by_file = {p["file"]: p for p in report["predictions"]}
    assert list(by_file) == expected
    assert by_file[bad["file"]]["genre"] is None and "cannot read the image" in by_file[bad["file"]]["error"]
    for r in records:
        if r is not bad:
            p = by_file[r["file"]]
            assert len(p["top_k"]) == 3 and p["top_k"][0] == {
                "genre": p["genre"],
                "probability": p["probability"],
            }
            assert p["probabilities"][classes[1]] == pytest.approx(float(r[classes[1]]), abs=1e-6)


def test_an_oversized_image_is_its_own_error_row_and_the_others_are_written(
    entry, trained_run, demo_root, tmp_path
):
    folder = tmp_path / "images"
    folder.mkdir()
    for path in sorted((demo_root / "Rock").glob("*.jpg"))[:2]:
        (folder / path.name).write_bytes(path.read_bytes())
    bomb = str(write_png_bomb(folder / "bomb.png"))  # 20000x20000, 49 KB
    output = tmp_path / "preds.csv"
    result = entry("predict.py", f"ckpt={trained_run}", f"image={folder}", f"output={output}")
    assert result.code == 1, result.err
    rows = table(result.out.split("\nwrote ")[0])
    assert (
        rows[bomb][0] == "ERROR"
        and "over the limit of 89,478,485 (corrupt, or a decompression bomb)" in rows[bomb][-1]
    )
    with open(output, newline="") as f:
        records = {r["file"]: r for r in csv.DictReader(f)}
    assert list(records) == [bomb, *(str(p) for p in sorted(folder.glob("*.jpg")))]
    assert [bool(r["genre"]) for r in records.values()] == [False, True, True]

    # the limit is a setting: the 96x72 images are over 6911 pixels
    strict = entry("predict.py", f"ckpt={trained_run}", f"image={folder}", "max_image_pixels=6911")
    assert strict.code == 1
    assert all(
        cells[0] == "ERROR" and "over the limit of 6,911" in cells[-1] for cells in table(strict.out).values()
    )


def test_audio_folder_end_to_end(trained_run, songs, tmp_path):
    bad = tmp_path / "songs"
    bad.mkdir()
    (bad / "broken.ogg").write_bytes(b"OggS" + b"\x00" * 100)
    (bad / "punk.flac").write_bytes((songs / "Punk" / "punk.flac").read_bytes())
    result = run_predict(f"ckpt={trained_run}", f"audio={bad}", f"output={tmp_path / 'out.json'}")
    assert result.returncode == 1, result.stderr
    rows = table(result.stdout.split("\nwrote ")[0])
    assert list(rows) == [str(bad / "broken.ogg"), str(bad / "punk.flac")]
    assert (
        rows[str(bad / "broken.ogg")][0] == "ERROR"
        and "cannot decode audio" in rows[str(bad / "broken.ogg")][-1]
    )
    predictions = json.loads((tmp_path / "out.json").read_text())["predictions"]
    assert predictions[1]["windows"] == 1 and predictions[1]["genre"] == rows[str(bad / "punk.flac")][0]


def test_jpegs_decoded_in_batches_on_the_device_match_the_pil_path(trained_run, demo_root, tmp_path):
    # decode=batched is the code CUDA runs (auto picks it there), here with device=cpu. Larger JPEGs than the
    # models' input, which PIL decodes at a reduced DCT scale and the batched path at full size; a PNG and a
    # truncated JPEG among them go one at a time through PIL.
    files = []
    for k, path in enumerate(sorted(demo_root.glob("*/*_0001.jpg"))[:5]):
        files.append(tmp_path / f"{k}.jpg")
        Image.open(path).resize((384, 288), Image.Resampling.BICUBIC).save(files[-1], quality=90)
    Image.open(files[0]).save(tmp_path / "png.png")
    truncated = tmp_path / "truncated.jpg"
    truncated.write_bytes(files[1].read_bytes()[:2000])
    checkpoints = find_checkpoints(trained_run, trained_run.parent)
    pil = Ensemble(checkpoints, precision="32", decode="pil")
    batched = Ensemble(checkpoints, precision="32", decode="batched")
    assert not pil.batched and batched.batched and Ensemble(checkpoints).batched is False  # auto, on a CPU

    decoded = batched.decode_jpegs([*files, tmp_path / "png.png"])
    assert list(decoded) == files and decoded[files[0]].shape == (3, 288, 384)
    assert batched.decode_jpegs([files[0], truncated]) == {}  # one bad file: each is then read alone
    for path in files:
        by_pil, on_device = pil.preprocess(path).float(), batched.preprocess(path, decoded[path]).float()
        assert by_pil.shape == on_device.shape
        assert (by_pil - on_device).abs().mean() < 2.0  # grey levels of 255

    inputs = [*files, tmp_path / "png.png", truncated]
    expected = predict_files(pil, inputs, file_loader(pil, None), batch_size=3)
    got = predict_files(batched, inputs, file_loader(batched, None), batch_size=3)
    assert [p.error for p in got] == [p.error for p in expected]
    assert got[-1].error and "truncated.jpg" in got[-1].error
    assert torch.allclose(
        torch.tensor([p.probabilities for p in got[:-1]]),
        torch.tensor([p.probabilities for p in expected[:-1]]),
        atol=0.03,
    )


def test_unknown_decode_is_a_clear_error(trained_run):
    with pytest.raises(UserError, match="decode='nvjpeg'"):
        Ensemble(find_checkpoints(trained_run, trained_run.parent), decode="nvjpeg")


def test_of_two_predictions_into_one_new_output_the_second_is_refused(trained_run, demo_root, tmp_path):
    ensemble = Ensemble(find_checkpoints(trained_run, tmp_path))
    output = tmp_path / "preds.csv"
    # both find the name free before they predict (predict.py's check), each on its own images
    check_options(output, 3)
    check_options(output, 3)
    first, second = (
        predict_files(ensemble, sorted((demo_root / genre).glob("*.jpg"))[:2], file_loader(ensemble, None))
        for genre in ("Folk", "Rock")
    )
    write_predictions(output, first, ensemble.class_names, 3, ensemble.checkpoints)
    with pytest.raises(UserError, match=rf"^output={output}: the file exists; pass overwrite=true"):
        write_predictions(output, second, ensemble.class_names, 3, ensemble.checkpoints)
    with open(output, newline="") as table:
        assert [Path(row["file"]).parent.name for row in csv.DictReader(table)] == ["Folk", "Folk"]
    write_predictions(output, second, ensemble.class_names, 3, ensemble.checkpoints, overwrite=True)
    assert "Rock" in output.read_text()


def test_a_file_name_with_a_tab_or_newline_stays_one_row_and_names_the_real_file(
    entry, trained_run, demo_root, tmp_path
):
    folder = tmp_path / "odd"
    folder.mkdir()
    good, bad = folder / "two\tcolumns\nand a line.jpg", folder / "cut\nshort.jpg"
    shutil.copy(next(demo_root.glob("Folk/*.jpg")), good)
    bad.write_bytes(b"not an image")
    output = tmp_path / "preds.csv"
    result = entry("predict.py", f"ckpt={trained_run}", f"image={folder}", f"output={output}")
    assert result.code == 1, result.err
    lines = result.out.splitlines()
    assert len(lines) == 4 and lines[-1] == f"wrote {output}", result.out  # header, 2 rows, wrote
    assert lines[1].startswith(repr(str(bad)))
    assert re.search(rf"ERROR +{re.escape(repr(str(bad)))}: cannot read the image", lines[1]), lines[1]
    assert lines[2].startswith(repr(str(good))) and "%" in lines[2]
    with open(output, newline="") as table:  # the csv module quotes the real names
        assert [row["file"] for row in csv.DictReader(table)] == [str(bad), str(good)]
