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


def test_a_song_gets_the_answer_predict_py_gives_and_a_timeline(
    client, served, entry, trained_run, tmp_path, write_song
):
    song = write_song(tmp_path / "rock.mp3", seconds=9.0)
    top, bars, timeline, view, record = client.predict(handle_file(str(song)), api_name="/classify")

    assert record["file"] == "rock.mp3" and record["windows"] == 3
    assert sum(record["probabilities"].values()) == pytest.approx(1, abs=1e-5)
    assert [(w["start"], w["end"]) for w in record["timeline"]] == [(0.0, 3.0), (3.0, 6.0), (6.0, 9.0)]
    for window in record["timeline"]:
        assert sum(window["probabilities"].values()) == pytest.approx(1, abs=1e-5)
    assert top.startswith(f"## {record['genre']} · {record['probability']:.1%}")
    # the timeline is shown (a song) or hidden (an image), so it comes as a visibility update
    assert bars["type"] == timeline["value"]["type"] == "matplotlib" and timeline["visible"]
    # the model's view: one 64 px tile per window, side by side
    assert Image.open(view).size == (3 * 64 + 2 * 2, 64)

    # the same answer as predict.py's
    out = tmp_path / "rock.json"
    result = entry("predict.py", f"ckpt={trained_run}", f"audio={song}", "per_window=true", f"output={out}")
    assert result.code == 0, result.err
    [expected] = json.loads(out.read_text())["predictions"]
    assert record["genre"] == expected["genre"]
    for name, q in expected["probabilities"].items():
        assert record["probabilities"][name] == pytest.approx(q, abs=1e-5)
    for window, expected_window in zip(record["timeline"], expected["timeline"], strict=True):
        assert list(window["probabilities"].values()) == pytest.approx(
            list(expected_window["probabilities"].values()), abs=1e-5
        )


def test_an_image_gets_bars_and_no_timeline(client, demo_root):
    image = sorted((demo_root / "Folk").glob("*.jpg"))[0]
    top, _, timeline, view, record = client.predict(handle_file(str(image)), api_name="/classify")
    assert record["windows"] == 1 and "timeline" not in record
    assert sum(record["probabilities"].values()) == pytest.approx(1, abs=1e-5)
    assert "spectrogram image" in top and timeline["visible"] is False
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
    assert sum(record["probabilities"].values()) == pytest.approx(1, abs=1e-5)


def test_an_upload_over_the_limit_is_refused_by_the_server(served):
    big = b"\x00" * (APP_MAX_UPLOAD_MB * 1024 * 1024 + 1)
    response = httpx.post(f"{served.url}gradio_api/upload", files={"files": ("big.wav", big)})
    assert response.status_code == 413, response.text
