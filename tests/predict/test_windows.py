"""Per-window predictions of songs (windows=true) and how windows make a song's answer (aggregate=)."""

import csv
import json

import pytest
import torch

from genre_lightning.predict.inference import Prediction, aggregate_windows
from genre_lightning.predict.report import clock, top_k

CLASSES = ["A", "B", "C"]
WINDOWS = torch.tensor([[0.6, 0.3, 0.1], [0.1, 0.5, 0.4], [0.2, 0.7, 0.1], [0.5, 0.1, 0.4]])


def test_mean_max_and_vote():
    assert torch.allclose(aggregate_windows(WINDOWS), torch.tensor([0.35, 0.4, 0.25]))
    assert torch.allclose(aggregate_windows(WINDOWS, "max"), torch.tensor([0.6, 0.7, 0.4]) / 1.7)
    assert torch.equal(aggregate_windows(WINDOWS, "vote"), torch.tensor([0.5, 0.5, 0.0]))


def test_a_tied_vote_goes_to_the_genre_with_the_higher_mean():
    prediction = Prediction("song.wav", aggregate_windows(WINDOWS, "vote").tolist(), WINDOWS.tolist())
    assert top_k(prediction, CLASSES, 3) == [("B", 0.5), ("A", 0.5), ("C", 0.0)]


@pytest.mark.parametrize("seconds, text", [(0, "0:00"), (6.0, "0:06"), (65.5, "1:05.5"), (599.96, "10:00")])
def test_clock(seconds, text):
    assert clock(seconds) == text


@pytest.fixture
def song(tmp_path, write_song):
    """9 s of Rock: three 3 s windows for the demo model of tests/conftest.py."""
    return write_song(tmp_path / "rock.wav", seconds=9.0)


@pytest.mark.parametrize("aggregate", ["mean", "max", "vote"])
def test_windows_in_the_json_make_the_songs_answer(entry, trained_run, song, tmp_path, aggregate):
    out = tmp_path / "song.json"
    args = [f"ckpt={trained_run}", f"audio={song}", "windows=true", f"aggregate={aggregate}", f"output={out}"]
    result = entry("predict.py", *args)
    assert result.code == 0, result.err
    report = json.loads(out.read_text())
    assert report["aggregate"] == aggregate
    [record] = report["predictions"]
    timeline = record["timeline"]
    assert [(w["start"], w["end"]) for w in timeline] == [(0.0, 3.0), (3.0, 6.0), (6.0, 9.0)]
    windows = torch.tensor([list(w["probabilities"].values()) for w in timeline])
    assert torch.allclose(windows.sum(dim=1), torch.ones(3), atol=1e-4)
    assert [w["genre"] for w in timeline] == [report["classes"][i] for i in windows.argmax(dim=1)]
    song_probabilities = torch.tensor(list(record["probabilities"].values()))
    assert torch.allclose(song_probabilities, aggregate_windows(windows, aggregate), atol=1e-6)
    assert song_probabilities.sum().item() == pytest.approx(1, abs=1e-5)
    # the screen table lists the windows below the song, by their times
    rows = [line.split()[0] for line in result.out.splitlines()[1:4]]
    assert rows[0] == str(song) and result.out.splitlines()[2].split()[0] == "0:00-0:03"
    assert "0:06-0:09" in result.out


def test_windows_in_the_csv_are_one_row_each_below_the_song(entry, trained_run, song, tmp_path):
    out = tmp_path / "song.csv"
    result = entry("predict.py", f"ckpt={trained_run}", f"audio={song}", "windows=true", f"output={out}")
    assert result.code == 0, result.err
    with open(out, newline="") as f:
        rows = list(csv.DictReader(f))
    assert [(r["file"], r["start"], r["end"], r["windows"]) for r in rows] == [
        (str(song), "", "", "3"),
        (str(song), "0.0", "3.0", ""),
        (str(song), "3.0", "6.0", ""),
        (str(song), "6.0", "9.0", ""),
    ]
    classes = json.loads((trained_run / "cv_summary.json").read_text())["classes"]
    windows = torch.tensor([[float(r[c]) for c in classes] for r in rows[1:]])
    assert torch.allclose(torch.tensor([float(rows[0][c]) for c in classes]), windows.mean(dim=0), atol=1e-5)
    assert [r["genre"] for r in rows[1:]] == [classes[i] for i in windows.argmax(dim=1)]


def test_without_windows_nothing_changes(entry, trained_run, song, tmp_path):
    out = tmp_path / "song.csv"
    result = entry("predict.py", f"ckpt={trained_run}", f"audio={song}", f"output={out}")
    assert result.code == 0, result.err
    assert "0:00-0:03" not in result.out
    with open(out, newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 1 and "start" not in rows[0] and rows[0]["windows"] == "3"


def test_an_unknown_aggregate_is_a_usage_error(entry, trained_run, song):
    result = entry("predict.py", f"ckpt={trained_run}", f"audio={song}", "aggregate=median")
    assert result.code == 2
    assert result.err.strip() == "error: aggregate=median: unknown; use mean, max, vote"
