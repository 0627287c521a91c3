"""The app through its HTTP API (gradio_client), as a script or another program would use it."""

from __future__ import annotations

import json

import httpx
import pytest
from conftest import APP_MAX_SECONDS, APP_MAX_UPLOAD_MB
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from PIL import Image


@pytest.fixture(scope="module")
def client(served):
    return Client(served.url, verbose=False)


# the page rounds probabilities to 4 decimals: half of their last digit, beside the float noise of predict.py
ROUNDED = 0.5e-4 + 1e-5


def floats(value) -> list[float]:
    """Every float in a JSON record."""
    if isinstance(value, dict):
        return [q for item in value.values() for q in floats(item)]
    if isinstance(value, list):
        return [q for item in value for q in floats(item)]
    return [value] if isinstance(value, float) else []


def sums_to_one(probabilities: dict[str, float]) -> bool:
    return sum(probabilities.values()) == pytest.approx(1, abs=len(probabilities) * ROUNDED)


def check_ranking_and_doubt(top: str, genres: dict, record: dict, rule) -> None:
    """The genres ranked by probability (highest first, the record's numbers), and the headline's near-tie
    line exactly when configs/app.yaml's rule holds for the first two."""
    ranked = sorted(record["probabilities"].items(), key=lambda item: -item[1])
    assert [(c["label"], c["confidence"]) for c in genres["confidences"]] == ranked
    (first, p), (second, q) = ranked[:2]
    uncertain = p < rule.min_probability or p - q < rule.min_margin
    assert (f"Uncertain: {first} {p:.1%} vs {second} {q:.1%}" in top) == uncertain
    assert ("Uncertain" in top) == uncertain


def test_a_song_gets_the_answer_predict_py_gives_and_a_timeline(
    client, served, entry, trained_run, tmp_path, write_song
):
    song = write_song(tmp_path / "rock.mp3", seconds=9.0)
    top, genres, timeline, view, record = client.predict(handle_file(str(song)), api_name="/classify")

    assert record["file"] == "rock.mp3" and record["windows"] == 3
    assert sums_to_one(record["probabilities"])
    assert [(w["start"], w["end"]) for w in record["timeline"]] == [(0.0, 3.0), (3.0, 6.0), (6.0, 9.0)]
    for window in record["timeline"]:
        assert sums_to_one(window["probabilities"])
    # the numbers shown are rounded: no 16 digits
    assert all(round(q, 4) == q for q in floats(record))
    assert top.startswith(f"## {record['genre']} · {record['probability']:.1%}")
    check_ranking_and_doubt(top, genres, record, served.uncertainty)
    # the timeline is shown (a song) or hidden (an image), so it comes as a visibility update
    assert timeline["value"]["type"] == "matplotlib" and timeline["visible"]
    # the model's view: one 64 px tile per window, side by side
    assert Image.open(view).size == (3 * 64 + 2 * 2, 64)

    # the same answer as predict.py's
    out = tmp_path / "rock.json"
    result = entry("predict.py", f"ckpt={trained_run}", f"audio={song}", "per_window=true", f"output={out}")
    assert result.code == 0, result.err
    [expected] = json.loads(out.read_text())["predictions"]
    assert record["genre"] == expected["genre"]
    for name, q in expected["probabilities"].items():
        assert record["probabilities"][name] == pytest.approx(q, abs=ROUNDED)
    for window, expected_window in zip(record["timeline"], expected["timeline"], strict=True):
        assert list(window["probabilities"].values()) == pytest.approx(
            list(expected_window["probabilities"].values()), abs=ROUNDED
        )


def test_an_image_gets_ranked_genres_and_no_timeline(client, served, demo_root):
    image = sorted((demo_root / "Folk").glob("*.jpg"))[0]
    top, genres, timeline, view, record = client.predict(handle_file(str(image)), api_name="/classify")
    assert record["windows"] == 1 and "timeline" not in record
    assert sums_to_one(record["probabilities"])
    assert "spectrogram image" in top and timeline["visible"] is False
    check_ranking_and_doubt(top, genres, record, served.uncertainty)
    assert Image.open(view).size == (64, 64)


def test_bad_input_gets_a_one_line_message_and_the_app_keeps_serving(client, tmp_path, write_song, demo_root):
    (tmp_path / "broken.wav").write_bytes(b"RIFF but not a song")
    (tmp_path / "broken.jpg").write_bytes(b"not a picture")
    (tmp_path / "notes.txt").write_text("not music")
    write_song(tmp_path / "long.flac", seconds=APP_MAX_SECONDS + 3)
    expected = {
        "broken.wav": "broken.wav: cannot decode audio (unrecognised or corrupt file",
        "broken.jpg": "broken.jpg: cannot read the image",
        "notes.txt": "notes.txt: not a song or a spectrogram image; use a wav, flac, ogg, mp3, jpg",
        "long.flac": f"long.flac: 15 s of audio, longer than the app takes ({APP_MAX_SECONDS} s)",
    }
    for name, message in expected.items():
        with pytest.raises(AppError) as info:
            client.predict(handle_file(str(tmp_path / name)), api_name="/classify")
        assert str(info.value).startswith(message) and "\n" not in str(info.value)
        assert str(tmp_path) not in str(info.value)  # named as the user knows it, not by the upload folder
    image = sorted((demo_root / "Rock").glob("*.jpg"))[0]
    *_, record = client.predict(handle_file(str(image)), api_name="/classify")
    assert sums_to_one(record["probabilities"])


def test_an_upload_over_the_limit_is_refused_by_the_server(served):
    big = b"\x00" * (APP_MAX_UPLOAD_MB * 1024 * 1024 + 1)
    response = httpx.post(f"{served.url}gradio_api/upload", files={"files": ("big.wav", big)})
    assert response.status_code == 413, response.text
