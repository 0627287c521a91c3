"""Runs on splits a reviewer would accept: duplicates across genres stop the run (or are resolved) and are
listed, a run without a test share finishes and predicts, and a given split is kept by a resume and
guarded against a changed split file."""

import csv
import json
import logging
import shutil

import pytest
from conftest import TINY, compose_train
from omegaconf import open_dict
from PIL import Image

from genre_lightning.errors import UserError
from genre_lightning.predict.ensemble import Ensemble, find_checkpoints
from genre_lightning.predict.inference import file_loader, predict_files
from genre_lightning.training.kfold import train

GENRES = ("Folk", "Pop", "Rock")


@pytest.fixture
def planted(demo_root, tmp_path):
    """Three demo genres and two planted duplicates: rock_0000 copied into Pop, rock_0001 saved again at
    JPEG quality 60."""
    root = tmp_path / "planted"
    for genre in GENRES:
        shutil.copytree(demo_root / genre, root / genre)
    shutil.copy(root / "Rock/rock_0000.jpg", root / "Pop/rock_copy.jpg")
    with Image.open(root / "Rock/rock_0001.jpg") as image:
        image.save(root / "Rock/rock_0001_q60.jpg", quality=60)
    return root


def test_duplicates_across_genres_stop_the_run_or_are_kept_apart_without_a_test_share(
    planted, tmp_path, caplog
):
    stopped = compose_train([*TINY, f"data.root={planted}"], tmp_path / "stopped")
    with pytest.raises(UserError) as err:
        train(stopped)
    message = str(err.value)
    assert message.startswith("1 duplicate group(s) cross genres") and "\n" not in message
    assert message.endswith(f"all listed in {tmp_path / 'stopped' / 'duplicates.txt'}")
    assert not (tmp_path / "stopped" / "split.json").exists(), "nothing trained"

    run = tmp_path / "run"
    cfg = compose_train(
        [*TINY, f"data.root={planted}", "data.duplicates=first", "data.test_fraction=0", "data.fold=0"], run
    )
    with caplog.at_level(logging.INFO):
        summary = train(cfg)
    assert "duplicates: 2 group(s) of 4 images (1 exact, 1 near), each kept in one part" in caplog.text
    found = summary["split"]["duplicates"]
    assert (found["groups"], found["files"], found["left_out"], found["policy"]) == (2, 4, 1, "first")
    assert set(summary["split"]["checked"].values()) == {0}
    with open(run / "duplicates.txt", newline="") as f:
        rows = list(csv.DictReader(f))
    assert sorted((row["path"].split("/planted/")[1], row["status"]) for row in rows) == [
        ("Pop/rock_copy.jpg", "kept"),
        ("Rock/rock_0000.jpg", "left out"),
        ("Rock/rock_0001.jpg", "kept"),
        ("Rock/rock_0001_q60.jpg", "kept"),
    ]
    # no test share: the fold trains, validates and is calibrated; no test rows, no ensemble
    split = json.loads((run / "split.json").read_text())
    assert split["test"] == [] and summary["complete"] and summary["ensemble"] is None
    assert not [key for key in summary["folds"][0] if key.startswith("test/")]
    trained = {path for fold in split["folds"] for path, _ in fold}
    assert set(json.loads((run / "image_hashes.json").read_text())["images"]) == trained
    # and the run predicts
    ensemble = Ensemble(find_checkpoints(run, tmp_path), precision="32")
    image = planted / "Folk" / "folk_0000.jpg"
    [prediction] = predict_files(ensemble, [image], file_loader(ensemble, None))
    assert len(prediction.probabilities) == len(GENRES) and sum(prediction.probabilities) == pytest.approx(1)


def test_a_given_split_is_kept_by_a_resume_and_a_changed_split_file_is_refused(demo_root, tmp_path):
    split_file = tmp_path / "split.csv"
    rows = ["stem,part"]
    for genre in GENRES:
        for i in range(20):
            part = "test" if i < 4 else "val" if i < 10 else "train"
            rows.append(f"{genre.lower()}_{i:04d}.wav,{part}")
    split_file.write_text("\n".join(rows) + "\n")
    run = tmp_path / "run"
    overrides = [*TINY, f"data.root={demo_root}", f"data.classes=[{','.join(GENRES)}]"]
    overrides += [f"data.split={split_file}", "data.folds=given"]
    summary = train(compose_train(overrides, run))
    assert [fold["fold"] for fold in summary["folds"]] == [0], "train and val as given: one fold"
    assert summary["split"]["split_file"] == {"named": 60, "images_not_named": 3 * 4}
    saved = json.loads((run / "split.json").read_text())
    assert len(saved["train"]) == 30 and len(saved["folds"][0]) == 18 and len(saved["test"]) == 12
    assert saved["source"]["split"]["file"] == str(split_file)

    cfg = compose_train(overrides, run)
    with open_dict(cfg):
        cfg.resume = str(run)
    assert train(cfg)["folds"] == summary["folds"]
    assert json.loads((run / "split.json").read_text()) == saved, "the resume kept the given split"

    split_file.write_text(split_file.read_text().replace("folk_0004.wav,val", "folk_0004.wav,train"))
    with pytest.raises(UserError) as err:
        train(cfg)
    assert str(err.value) == (
        f"data.split={split_file}: changed since the run started (sha256 "
        f"{saved['source']['split']['sha256'][:12]} recorded in split.json); restore the file, or start a "
        "new run"
    )
