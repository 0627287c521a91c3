"""Per-window predictions of songs (per_window=true) and how windows make a song's answer (aggregate=)."""

import csv
import json

import pytest
import torch

from genre_lightning.predict.inference import Prediction, aggregate_windows, window_votes
from genre_lightning.predict.report import clock, format_predictions, to_records, top_k

CLASSES = ["A", "B", "C"]
WINDOWS = torch.tensor([[0.6, 0.3, 0.1], [0.1, 0.5, 0.4], [0.2, 0.7, 0.1], [0.5, 0.1, 0.4]])


def test_mean_max_and_vote():
    assert torch.allclose(aggregate_windows(WINDOWS), torch.tensor([0.35, 0.4, 0.25]))
    assert torch.allclose(aggregate_windows(WINDOWS, "max"), torch.tensor([0.6, 0.7, 0.4]) / 1.7)
    # a vote shows the mean probabilities; the votes order the genres
    assert torch.equal(aggregate_windows(WINDOWS, "vote"), aggregate_windows(WINDOWS))
    assert window_votes(WINDOWS).tolist() == [2, 2, 0]


def voted(windows: torch.Tensor) -> Prediction:
    return Prediction(
        "song.wav",
        aggregate_windows(windows, "vote").tolist(),
        windows.tolist(),
        votes=window_votes(windows).tolist(),
    )


def test_a_tied_vote_goes_to_the_genre_with_the_higher_mean():
    ranking = top_k(voted(WINDOWS), CLASSES, 3)
    assert [genre for genre, _ in ranking] == ["B", "A", "C"]
    assert [q for _, q in ranking] == pytest.approx([0.4, 0.35, 0.25])


def test_a_vote_is_shown_as_the_voted_genres_mean_probability_and_its_votes():
    # A is ranked first by two windows of three, at 40%; B's one window is sure: its mean is higher
    prediction = voted(torch.tensor([[0.4, 0.35, 0.25], [0.4, 0.35, 0.25], [0.0, 0.9, 0.1]]))
    assert top_k(prediction, CLASSES, 3) == [
        ("A", pytest.approx(0.8 / 3)),
        ("B", pytest.approx(1.6 / 3)),
        ("C", pytest.approx(0.2)),
    ]
    header, row = format_predictions([prediction], CLASSES, 2).splitlines()
    assert header.split() == ["file", "genre", "prob", "top", "2", "votes"]
    assert row.split() == ["song.wav", "A", "26.7%", "A", "26.7%,", "B", "53.3%", "2/3"]
    [record] = to_records([prediction], CLASSES, 2)
    assert record["genre"] == "A" and record["probability"] == pytest.approx(0.8 / 3)
    assert record["votes"] == {"A": 2, "B": 1, "C": 0}
    # without a vote there are no votes to show
    mean = Prediction("song.wav", prediction.probabilities, prediction.window_probabilities)
    assert (
        "votes" not in format_predictions([mean], CLASSES, 2)
        and "votes" not in to_records([mean], CLASSES, 2)[0]
    )


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
    args = [
        f"ckpt={trained_run}",
        f"audio={song}",
        "per_window=true",
        f"aggregate={aggregate}",
        f"output={out}",
    ]
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


def test_a_vote_prints_and_writes_its_counts_beside_the_mean_probabilities(
    entry, trained_run, song, tmp_path
):
    out = tmp_path / "song.json"
    result = entry("predict.py", f"ckpt={trained_run}", f"audio={song}", "aggregate=vote", f"output={out}")
    assert result.code == 0, result.err
    [record] = json.loads(out.read_text())["predictions"]
    votes, probabilities = record["votes"], record["probabilities"]
    assert sum(votes.values()) == record["windows"] == 3
    assert record["genre"] == max(votes, key=lambda genre: (votes[genre], probabilities[genre]))
    assert record["probability"] == probabilities[record["genre"]]
    header, row = result.out.splitlines()[:2]
    assert header.split()[-1] == "votes" and row.split()[-1] == f"{votes[record['genre']]}/3"
    assert row.split()[2] == f"{record['probability']:.1%}"
    # the CSV too: the row's genre is the voted one, so its votes stand beside it
    out = tmp_path / "song.csv"
    result = entry("predict.py", f"ckpt={trained_run}", f"audio={song}", "aggregate=vote", f"output={out}")
    assert result.code == 0, result.err
    with open(out, newline="") as f:
        [line] = list(csv.DictReader(f))
    assert line["genre"] == record["genre"] and line["votes"] == f"{votes[record['genre']]}/3"


def test_windows_in_the_csv_are_one_row_each_below_the_song(entry, trained_run, song, tmp_path):
    out = tmp_path / "song.csv"
    result = entry("predict.py", f"ckpt={trained_run}", f"audio={song}", "per_window=true", f"output={out}")
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
