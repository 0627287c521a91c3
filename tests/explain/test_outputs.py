"""explain=true end to end: predict.py's pictures and columns, eval.py's per-genre shares and shortcut
warnings, and the app's Why panel."""

import csv
import json

import numpy as np
import torch
from conftest import CUE_GENRES
from omegaconf import OmegaConf
from PIL import Image

from genre_lightning.constants import EXPLAIN_FILE
from genre_lightning.explain.axes import Part
from genre_lightning.explain.evaluation import EvaluationExplainer, mass_on
from genre_lightning.explain.explainer import Explanation


def images_of(root, folder, per_genre=2):
    """``per_genre`` images of each genre of the cue set, copied to ``folder``/<Genre>/."""
    for genre in CUE_GENRES:
        (folder / genre).mkdir(parents=True)
        for path in sorted((root / genre).glob("*.png"))[:per_genre]:
            (folder / genre / path.name).write_bytes(path.read_bytes())
    return folder


def test_predict_writes_a_picture_per_image_and_the_top_band_and_segment(entry, cue_run, tmp_path):
    run, root = cue_run
    folder = images_of(root, tmp_path / "in")
    out = tmp_path / "preds.csv"
    result = entry("predict.py", f"ckpt={run}", f"image={folder}", f"output={out}", "explain=true")
    assert result.code == 0, result.err
    assert f"wrote 6 explanation(s) to {tmp_path / 'preds_explained'}" in result.out
    rows = list(csv.DictReader(out.open()))
    for row in rows:
        picture = tmp_path / "preds_explained" / row["file"].split("/in/")[1]
        assert row["explanation"] == f"{picture}.png"
        assert Image.open(f"{picture}.png").size == (800, 500)
        # no rendering recorded for these images: bands of rows, segments of columns (none named where no
        # part's silencing lowered the score)
        assert row["top_band"].startswith("rows ") or float(row["top_band_share"]) == 0
        assert row["top_segment"].startswith("columns ") or float(row["top_segment_share"]) == 0
        assert 0 <= float(row["top_band_share"]) <= 1
    assert any(row["top_band"] for row in rows)
    # a second run refuses to mix its pictures with the first's
    again = entry(
        "predict.py",
        f"ckpt={run}",
        f"image={folder}",
        f"output={tmp_path / 'again.csv'}",
        "explain=true",
        f"explanation.folder={tmp_path / 'preds_explained'}",
    )
    assert again.code == 2 and "holds pictures already" in again.err


def test_a_songs_windows_are_explained_on_its_timeline(entry, cue_run, tmp_path, write_song):
    run, _ = cue_run
    song = write_song(tmp_path / "song.wav", seconds=7.0)
    out = tmp_path / "song.json"
    args = ["rendering.window_seconds=3", f"output={out}", "explain=true", "per_window=true"]
    result = entry("predict.py", f"ckpt={run}", f"audio={song}", "explanation.genre=Rock", *args)
    assert result.code == 0, result.err
    [record] = json.loads(out.read_text())["predictions"]
    # the song's rendering names bands in Hz, segments by the song's time
    assert all(name.endswith("Hz)") for name in record["band_shares"])
    assert list(record["band_shares"])[0] == "bass (below 250 Hz)"
    segments = list(record["segment_shares"])
    assert segments[0].startswith("0:00-0:00.") and segments[-1].endswith("-0:06")
    assert (
        sum(record["segment_shares"].values()) == 0 or abs(sum(record["segment_shares"].values()) - 1) < 1e-3
    )
    assert [w["top_segment"] != "" or w["top_segment_share"] == 0 for w in record["timeline"]] == [True, True]
    assert record["explanation"].endswith("song.wav.png")


def test_usage_errors_come_before_predicting(entry, cue_run, tmp_path):
    run, root = cue_run
    image = next((root / "Rock").glob("*.png"))
    nowhere = entry("predict.py", f"ckpt={run}", f"image={image}", "explain=true")
    assert nowhere.code == 2 and "pass output=<file> or explanation.folder=<folder>" in nowhere.err
    unknown = entry(
        "predict.py",
        f"ckpt={run}",
        f"image={image}",
        "explain=true",
        "explanation.genre=Jazz",
        f"explanation.folder={tmp_path}",
    )
    assert unknown.code == 2 and "explanation.genre=Jazz" in unknown.err


def test_eval_gives_each_genres_mean_shares(entry, cue_run, tmp_path):
    run, root = cue_run
    folder = images_of(root, tmp_path / "labelled", per_genre=3)
    out = tmp_path / "eval"
    result = entry("eval.py", f"ckpt={run}", f"images={folder}", f"hydra.run.dir={out}", "explain=true")
    assert result.code == 0, result.err
    genres = json.loads((out / EXPLAIN_FILE).read_text())["genres"]
    assert list(genres) == CUE_GENRES
    for values in genres.values():
        assert values["images"] == 3
        assert sum(values["bands"].values()) <= 1 + 1e-6
        assert 0 <= values["map"]["border"] <= 1
    assert "top band" in result.out and "map on border" in result.out


def test_a_map_on_the_border_or_on_silence_is_a_possible_shortcut():
    image = torch.full((3, 32, 32), 200, dtype=torch.uint8)
    image[:, 16:] = 0  # the lower half silent
    heat = np.zeros((32, 32))
    heat[0:2, :] = 1  # all of the map on the top rows: the border
    explanation = Explanation(
        "Rock", 0.9, image, heat, [Part("all", 0, 32)], [0.1], [Part("all", 0, 32)], [0.1]
    )
    mass = mass_on(explanation, border=0.0625)
    assert mass["border"] == 1 and mass["silence"] == 0 and mass["silence_area"] == 0.5
    explain = EvaluationExplainer.__new__(EvaluationExplainer)
    explain.share = 0.5
    warnings = explain.warnings({"Rock": {"map": mass}, "Pop": {"map": {**mass, "border": 0.2}}})
    assert len(warnings) == 1 and warnings[0].startswith(
        "warning: Rock: 100% of the map lies on the image's border"
    )


def test_the_apps_why_panel_explains_the_answer(cue_run):
    from genre_lightning.app.classify import FileClassifier
    from genre_lightning.app.why import Why, make_why
    from genre_lightning.predict.ensemble import Ensemble, find_checkpoints
    from genre_lightning.predict.inference import song_rendering

    run, root = cue_run
    ensemble = Ensemble(find_checkpoints(run, run.parent))
    classifier = FileClassifier(ensemble, song_rendering(ensemble))
    settings = OmegaConf.load("configs/explanation/default.yaml")
    why = Why(classifier, settings)
    picture, sentence = why(None, str(next((root / "Rock").glob("*.png"))))
    assert picture.size == (800, 500)
    assert "score" in sentence and "explained in" in sentence
    assert why(None, None) == (None, "Drop in a song or an image first.")
    assert make_why(False, classifier, settings) is None
