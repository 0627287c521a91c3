"""NaN and infinite samples: read as silence with a warning that counts them, and a file of nothing else is
an error row, in prediction and in the dataset builder alike."""

import json
from pathlib import Path

import numpy as np
import soundfile as sf

from genre_lightning.audio.dataset import build_dataset, find_songs, format_report
from genre_lightning.audio.rendering import Rendering
from genre_lightning.audio.spectrogram import SpectrogramSpec

SR = 22050


def broken_songs(folder: Path, write_song) -> Path:
    """song.wav, its copy with 1,000 samples NaN and 3 infinite (float WAV), that copy with those samples 0,
    and a file of NaN only."""
    song = write_song(folder / "song.wav", seconds=3.0)
    audio, _ = sf.read(song, dtype="float32")
    broken = audio.copy()
    broken[20000:21000] = np.nan
    broken[[5, 6, 40000]] = [np.inf, -np.inf, np.inf]
    bad = ~np.isfinite(broken)
    sf.write(folder / "some_nan.wav", broken, SR, subtype="FLOAT")
    sf.write(folder / "zeroed.wav", np.where(bad, 0.0, audio).astype(np.float32), SR, subtype="FLOAT")
    sf.write(folder / "all_nan.wav", np.full(len(audio), np.nan, dtype=np.float32), SR, subtype="FLOAT")
    return folder


def test_non_finite_samples_are_counted_and_read_as_silence_and_an_all_nan_file_is_an_error_row(
    entry, trained_run, tmp_path, write_song
):
    songs = broken_songs(tmp_path / "songs", write_song)
    output = tmp_path / "songs.json"
    result = entry("predict.py", f"ckpt={trained_run}", f"audio={songs}", f"output={output}")
    assert result.code == 1, "a file could not be predicted"
    predictions = {Path(p["file"]).name: p for p in json.loads(output.read_text())["predictions"]}

    doubt = "1,003 of 66,150 samples are NaN or infinite (read as silence)"
    assert predictions["some_nan.wav"]["warnings"] == [doubt]
    assert f"warning: {songs / 'some_nan.wav'}: {doubt}" in result.err.splitlines()
    # predicted as the same song with silence in their place
    assert predictions["some_nan.wav"]["probabilities"] == predictions["zeroed.wav"]["probabilities"]
    assert predictions["some_nan.wav"]["genre"] and predictions["some_nan.wav"]["error"] is None

    nothing = predictions["all_nan.wav"]
    assert nothing["genre"] is None and nothing["warnings"] == []
    reason = "every sample is NaN or infinite, no audio to predict; re-export the file"
    assert nothing["error"] == f"{songs / 'all_nan.wav'}: {reason}"
    assert predictions["song.wav"]["warnings"] == predictions["zeroed.wav"]["warnings"] == []


def test_the_dataset_builder_warns_about_them_and_skips_an_all_nan_file(tmp_path, write_song, capsys):
    broken_songs(tmp_path / "audio" / "Rock", write_song)
    write_song(tmp_path / "audio" / "Pop" / "pop.wav", seconds=1.0, genre="Pop")
    out = tmp_path / "images"
    small = Rendering(SpectrogramSpec(width=48, height=32), window_seconds=1.0, jpeg_quality=90)
    report = build_dataset(find_songs(tmp_path / "audio"), out, small)
    assert [song for song, _ in report.failed] == ["Rock/all_nan.wav"]
    doubt = "1,003 of 66,150 samples are NaN or infinite (read as silence)"
    assert report.doubtful == [("Rock/some_nan.wav", doubt)]
    assert f"warning: {tmp_path / 'audio/Rock/some_nan.wav'}: {doubt}" in capsys.readouterr().err
    assert f"  warning: Rock/some_nan.wav: {doubt}" in format_report(report, out).splitlines()
    assert (out / "Rock" / "some_nan-002.jpg").read_bytes() == (out / "Rock" / "zeroed-002.jpg").read_bytes()
