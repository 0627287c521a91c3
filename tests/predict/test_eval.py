"""eval.py: a trained run, or one of its checkpoints, scored on a labelled folder of genre images."""

import csv
import json
import shutil
from pathlib import Path

import pytest
import torch

from genre_lightning.constants import EVAL_FILE
from genre_lightning.metrics import confusion_figure, scores
from genre_lightning.predict.ensemble import Ensemble, find_checkpoints
from genre_lightning.predict.inference import file_loader, predict_files
from genre_lightning.run_folder.layout import CONFUSION_FILE, PER_GENRE_FILE


@pytest.fixture
def other_set(tmp_path, demo_root) -> Path:
    """A labelled folder unlike the training data's genres: three of the model's genres (6 images each, and
    an unreadable file among Rock's), Jazz (3 images), which the model does not know, and none of its
    other four."""
    folder = tmp_path / "other_set"
    for genre in ("Classical", "Punk", "Rock"):
        (folder / genre).mkdir(parents=True)
        for path in sorted((demo_root / genre).glob("*.jpg"))[:6]:
            shutil.copy(path, folder / genre / path.name)
    (folder / "Jazz").mkdir()
    for path in sorted((demo_root / "Pop").glob("*.jpg"))[:3]:
        shutil.copy(path, folder / "Jazz" / path.name)
    (folder / "Rock" / "broken.jpg").write_bytes(b"not a jpeg")
    return folder


def test_a_run_is_scored_on_the_genres_it_shares_with_the_folder(entry, trained_run, other_set, tmp_path):
    out = tmp_path / "eval"
    result = entry(
        "eval.py", f"ckpt={trained_run}", f"images={other_set}", f"hydra.run.dir={out}", "precision='32'"
    )
    assert result.code == 0, result.err
    # (a demo image of a few notes on black reads as a plot on black paper: cut to the usual box, doubted)
    lines = [line for line in result.out.splitlines() if "scored with a doubt" not in line]
    # what the scores leave out, said once each
    assert lines[0] == (
        f"scored on the 3 genres that the model and {other_set} share; left out the genres the model does "
        "not know: Jazz (3 images); the model's Electronic, Folk, Hip-Hop, Pop have no images here; "
        "probabilities scaled to sum to 1 over the shared genres"
    )
    # the folder holds copies of images the run trained on (not of its test images): their scores are no test
    split = json.loads((trained_run / "split.json").read_text())
    trained = {Path(path).name for fold in split["folds"] for path, _ in fold}
    copies = [
        p for g in ("Classical", "Punk", "Rock") for p in (other_set / g).glob("*.jpg") if p.name in trained
    ]
    assert copies and lines[1].startswith(
        f"warning: {len(copies)} of the 18 images duplicate images the run trained on (e.g. "
    )
    assert lines[1].endswith("all listed in eval.json): their scores measure memory, not genre")
    assert lines[2].startswith("left out 1 unreadable image(s) (listed in eval.json): ")
    assert "broken.jpg" in lines[2]
    assert lines[3].split() == ["model", "accuracy", "macro", "F1", "NLL", "ECE"]
    assert lines[4].startswith("ensemble of 2 ")
    assert [line.split()[0] for line in lines[5:7]] == [f"fold_{k}/checkpoints/best.ckpt" for k in (0, 1)]
    assert lines[-1] == f"wrote {out}"

    report = json.loads((out / EVAL_FILE).read_text())
    assert report["genres"] == ["Classical", "Punk", "Rock"] and report["images"] == 18
    assert report["left_out"]["unknown_genres"] == {"Jazz": 3}
    assert list(report["left_out"]["unreadable"]) == [str(other_set / "Rock" / "broken.jpg")]
    assert report["genres_without_images"] == ["Electronic", "Folk", "Hip-Hop", "Pop"]
    assert sorted(Path(image).name for image, _ in report["duplicates_of_training"]) == sorted(
        p.name for p in copies
    )
    assert all(Path(image).name == Path(seen).name for image, seen in report["duplicates_of_training"])

    # the same numbers from predict.py's path: the ensemble's probabilities of the shared genres, rescaled
    files = [other_set / g / p.name for g in report["genres"] for p in sorted((other_set / g).glob("*.jpg"))]
    files = [f for f in files if f.name != "broken.jpg"]
    labels = torch.tensor([report["genres"].index(f.parent.name) for f in files])
    checkpoints = find_checkpoints(trained_run, trained_run.parent)

    def expected(models: list[Path]) -> dict:
        ensemble = Ensemble(models, precision="32")
        predictions = predict_files(ensemble, files, file_loader(ensemble, None))
        probabilities = torch.tensor([p.probabilities for p in predictions])
        shared = probabilities[:, [ensemble.class_names.index(g) for g in report["genres"]]]
        return scores(shared / shared.sum(dim=1, keepdim=True), labels)

    for key, value in expected(checkpoints).items():
        assert report["ensemble"][key] == pytest.approx(value, abs=1e-5), key
    fold_1 = report["models"][1]
    assert fold_1["checkpoint"] == str(checkpoints[1])
    assert fold_1["acc"] == pytest.approx(expected(checkpoints[1:])["acc"], abs=1e-6)

    with open(out / PER_GENRE_FILE, newline="") as f:
        rows = list(csv.DictReader(f))
    assert [row["genre"] for row in rows] == ["Classical", "Punk", "Rock", "macro avg", "weighted avg"]
    assert [int(row["support"]) for row in rows] == [6, 6, 6, 18, 18]
    assert float(rows[-1]["recall"]) == pytest.approx(report["ensemble"]["acc"], abs=1e-4)
    assert (out / CONFUSION_FILE).read_bytes()[:4] == b"\x89PNG"

    # a second evaluation never replaces the first
    again = entry("eval.py", f"ckpt={trained_run}", f"images={other_set}", f"hydra.run.dir={out}")
    assert again.code == 2 and again.err == (
        f"error: {out}: holds an evaluation already; pass a new folder (hydra.run.dir=...)\n"
    )


def test_one_checkpoint_on_a_folder_of_the_models_genres(entry, trained_run, demo_root, tmp_path):
    checkpoint = trained_run / "fold_0" / "checkpoints" / "best.ckpt"
    out = tmp_path / "eval"
    result = entry("eval.py", f"ckpt={checkpoint}", f"images={demo_root}", f"hydra.run.dir={out}")
    assert result.code == 0, result.err
    # nothing left out, one row, the checkpoint's; and a warning: the run trained on the folds' images
    split = json.loads((trained_run / "split.json").read_text())
    trained = sum(len(fold) for fold in split["folds"])
    warning, header, row, wrote = [
        line for line in result.out.splitlines() if "scored with a doubt" not in line
    ]
    assert warning.startswith(
        f"warning: {trained} of the {7 * 24} images duplicate images the run trained on"
    )
    assert header.startswith("model") and row.startswith(str(checkpoint)) and wrote == f"wrote {out}"
    report = json.loads((out / EVAL_FILE).read_text())
    assert report["images"] == 7 * 24 and len(report["genres"]) == 7
    assert report["ensemble"]["models"] == 1 and report["ensemble"]["acc"] == report["models"][0]["acc"]


def test_folders_and_checkpoints_it_cannot_score_are_one_line_errors(entry, trained_run, other_set, tmp_path):
    def error(*args: str) -> str:
        result = entry("eval.py", *args, f"hydra.run.dir={tmp_path / 'eval'}")
        assert result.code == 2 and result.out == "" and result.err.count("\n") == 1, result
        return result.err

    run = f"ckpt={trained_run}"
    nowhere = tmp_path / "nowhere"
    assert error(run, f"images={nowhere}") == (
        f"error: {nowhere}: folder not found; expected {nowhere}/<Genre>/*.jpg|png, one folder per genre; "
        "pass images=<folder>\n"
    )
    assert "no genre folder holds .jpg/.jpeg/.png images" in error(run, f"images={other_set / 'Rock'}")
    only_jazz = tmp_path / "jazz"
    shutil.copytree(other_set / "Jazz", only_jazz / "Jazz")
    assert error(run, f"images={only_jazz}").startswith(
        f"error: {only_jazz}: of its genres ['Jazz'], none is one the model knows (Classical, Electronic"
    )
    shutil.copytree(other_set / "Rock", only_jazz / "Rock")
    assert "['Jazz', 'Rock'], only Rock is one the model knows" in error(run, f"images={only_jazz}")
    fake = tmp_path / "fake.ckpt"
    fake.write_text("not a checkpoint")
    assert "not a genre-lightning checkpoint" in error(f"ckpt={fake}", f"images={other_set}")
    assert "images is required" in error(run)


def test_the_confusion_matrix_says_what_it_shows_and_has_a_colour_bar():
    matrix = torch.tensor([[3.0, 1.0], [0.0, 4.0]])
    figure = confusion_figure(matrix, ["Rock", "Pop"], "the model on 8 images\naccuracy 87.5%")
    image, bar = figure.axes
    assert image.get_title() == "the model on 8 images\naccuracy 87.5%"
    assert bar.get_ylabel() == "share of the true genre's images"
