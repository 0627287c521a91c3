import matplotlib
import numpy as np
import pytest
import soundfile as sf

from genre_lightning.audio.spectrogram import (
    AudioError,
    SpectrogramSpec,
    audio_seconds,
    load_audio,
    log_mel,
    mel_filterbank,
    render,
    to_image,
    window_spans,
)
from genre_lightning.constants import AUDIO_EXTENSIONS
from genre_lightning.errors import UserError

SR = 22050
SPEC = SpectrogramSpec()
SMALL = SpectrogramSpec(width=64, height=128)


def tone(freq, seconds=1.0, sr=SR, amp=0.5):
    return (amp * np.sin(2 * np.pi * freq * np.arange(int(seconds * sr)) / sr)).astype(np.float32)


def magma(x):
    return tuple(int(round(c * 255)) for c in matplotlib.colormaps["magma"](x)[:3])


def test_log_mel_shape_and_db_range():
    audio = np.random.default_rng(0).standard_normal(SR).astype(np.float32)
    db = log_mel(audio, SPEC)
    assert db.shape == (128, 1 + SR // 512)  # centred frames
    assert db.dtype == np.float32
    assert db.max() == 0.0
    assert db.min() >= -SPEC.top_db


def test_top_db_floors_quiet_bins():
    db = log_mel(tone(440), SPEC)
    assert db.min() == -80.0  # a pure tone leaves most mel bands far below its peak
    assert log_mel(tone(440), SpectrogramSpec(top_db=40)).min() == -40.0


# librosa's documented example: librosa.mel_frequencies(n_mels=40) (Slaney scale, 0 to 11025 Hz), the edges
# and centres of 38 triangular bands
LIBROSA_MEL_FREQUENCIES_40 = [
    0.0, 85.317, 170.635, 255.952, 341.269, 426.586, 511.904, 597.221, 682.538, 767.855, 853.173, 938.49,
    1024.856, 1119.114, 1222.042, 1334.436, 1457.167, 1591.187, 1737.532, 1897.337, 2071.84, 2262.393,
    2470.47, 2697.686, 2945.799, 3216.731, 3512.582, 3835.643, 4188.417, 4573.636, 4994.285, 5453.621,
    5955.205, 6502.92, 7101.009, 7754.107, 8467.272, 9246.028, 10096.408, 11025.0,
]  # fmt: skip


def test_mel_bands_peak_at_librosas_slaney_centres():
    fb = mel_filterbank(SpectrogramSpec(n_mels=38))
    peaks = fb.argmax(axis=1) * SR / SPEC.n_fft
    # each band peaks at the FFT bin nearest its centre (bins are 10.8 Hz apart)
    np.testing.assert_allclose(peaks, LIBROSA_MEL_FREQUENCIES_40[1:-1], atol=SR / SPEC.n_fft / 2)


# tone (Hz) -> the band of 128 (0 to 11025 Hz) whose Slaney centre is nearest: 154.8, 438.5, 1006.2, 2994.4
# and 8012.2 Hz
TONE_BANDS = {150.0: 5, 440.0: 16, 1000.0: 38, 3000.0: 79, 8000.0: 116}


@pytest.mark.parametrize("freq, band", TONE_BANDS.items())
def test_pure_tone_lights_the_mel_band_that_covers_its_frequency(freq, band):
    assert int(log_mel(tone(freq), SPEC).mean(axis=1).argmax()) == band


def test_mel_filterbank_is_slaney_area_normalised():
    fb = mel_filterbank(SPEC)
    assert fb.shape == (128, 1025)
    assert (fb >= 0).all()
    # Area normalisation: every triangle wide enough to be sampled by FFT bins integrates to ~1 over Hz.
    areas = fb.sum(axis=1) * (SR / SPEC.n_fft)
    np.testing.assert_allclose(areas[40:], 1.0, rtol=0.05)
    # Slaney scale is linear below 1 kHz: the first band centres are evenly spaced.
    centres = fb.argmax(axis=1)
    assert np.ptp(np.diff(centres[5:15])) <= 1


def bright_row(image):
    return int(np.asarray(image, dtype=np.float32).sum(axis=(1, 2)).argmax())


def test_low_frequencies_render_at_the_bottom_and_high_at_the_top():
    low = bright_row(render(tone(100), SMALL))
    high = bright_row(render(tone(8000), SMALL))
    assert low > 0.9 * SMALL.height
    assert high < 0.15 * SMALL.height


def test_render_has_the_spec_size_and_rgb_mode():
    image = render(tone(440, seconds=2.0), SpectrogramSpec(width=96, height=72))
    assert image.size == (96, 72)
    assert image.mode == "RGB"


def test_colours_are_magma_from_floor_to_peak():
    darkest, brightest = magma(0.0), magma(1.0)
    assert to_image(np.full((128, 20), -80.0), SMALL).getpixel((10, 10)) == darkest
    assert to_image(np.zeros((128, 20)), SMALL).getpixel((10, 10)) == brightest
    silence = np.asarray(render(np.zeros(SR, dtype=np.float32), SMALL))
    assert (silence == darkest).all()


def write_stereo(path, sr, **kwargs):
    left = tone(440, seconds=1.0, sr=sr)
    sf.write(path, np.stack([left, 0.5 * left], axis=1), sr, **kwargs)


@pytest.mark.parametrize(
    "ext, kwargs, lossless",
    [
        (".wav", {}, True),
        (".flac", {}, True),
        (".ogg", {"format": "OGG", "subtype": "VORBIS"}, False),
        (".mp3", {"format": "MP3"}, False),
    ],
)
def test_load_audio_decodes_every_supported_format_to_mono_at_the_target_rate(
    tmp_path, ext, kwargs, lossless
):
    assert ext in AUDIO_EXTENSIONS
    path = tmp_path / f"clip{ext}"
    write_stereo(path, 44100, **kwargs)
    audio = load_audio(path, SR)
    assert audio.dtype == np.float32 and audio.ndim == 1
    # 44.1 kHz -> 22.05 kHz halves the length (lossy codecs pad a little).
    assert abs(len(audio) - SR) <= (0 if lossless else 0.1 * SR)
    spectrum = np.abs(np.fft.rfft(audio))
    assert abs(spectrum.argmax() * SR / len(audio) - 440) < 5
    if lossless:
        # Stereo is averaged: (1 + 0.5) / 2 of the left channel's 0.5 amplitude.
        assert np.abs(audio[2000:-2000]).max() == pytest.approx(0.375, abs=0.01)


def test_load_audio_keeps_the_file_rate_when_it_matches(tmp_path):
    sf.write(tmp_path / "a.wav", tone(440), SR)
    np.testing.assert_allclose(load_audio(tmp_path / "a.wav", SR), tone(440), atol=1e-4)


@pytest.mark.parametrize("read", [lambda path: load_audio(path, SR), audio_seconds])
@pytest.mark.parametrize("suffix", [".mp3", ".wav"])
@pytest.mark.parametrize("content", [b"this is not audio at all\n" * 100, b"", b"\xff\xd8\xff\xe0 a JPEG"])
def test_load_audio_rejects_garbage_with_a_one_line_message_naming_the_file(
    tmp_path, capfd, content, suffix, read
):
    path = tmp_path / f"broken_song{suffix}"
    path.write_bytes(content)
    with pytest.raises(AudioError) as info:
        read(path)
    message = str(info.value)
    assert message.startswith(f"{path}: not an audio file (") and "supported: wav, flac, ogg, mp3" in message
    assert "\n" not in message
    assert isinstance(info.value, UserError)
    # no decoder tried it: mpg123 would print its attempts on stderr
    assert capfd.readouterr().err == ""


def test_load_audio_names_a_damaged_mp3_without_blaming_a_pipe(tmp_path):
    path = tmp_path / "damaged.mp3"
    sf.write(path, tone(440), SR, format="MP3")
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(AudioError, match="damaged.mp3: cannot decode audio") as info:
        load_audio(path, SR)
    assert "pipe" not in str(info.value) and "does not exist" not in str(info.value)


@pytest.mark.parametrize("ext", AUDIO_EXTENSIONS)
def test_audio_seconds_reads_the_length_from_the_header(tmp_path, ext):
    path = tmp_path / f"a{ext}"
    sf.write(
        path, np.zeros(int(2.5 * SR), dtype=np.float32), SR, **({"format": "MP3"} if ext == ".mp3" else {})
    )
    assert audio_seconds(path) == pytest.approx(2.5, abs=0.06)  # mp3 frames pad the end a little


def test_load_audio_names_a_missing_file(tmp_path):
    with pytest.raises(AudioError, match="nowhere.wav: cannot decode audio \\(no such file\\)"):
        load_audio(tmp_path / "nowhere.wav", SR)


def test_load_audio_rejects_a_file_without_samples(tmp_path):
    path = tmp_path / "empty.wav"
    sf.write(path, np.zeros((0, 1), dtype=np.float32), SR)
    with pytest.raises(AudioError, match="empty.wav.*no samples"):
        load_audio(path, SR)


@pytest.mark.parametrize(
    "seconds, window, hop, count",
    [
        (30.0, None, None, 1),  # whole clip
        (30.0, 10.0, None, 3),
        (30.0, 7.0, None, 4),  # 2 s tail < half a window: dropped
        (30.0, 8.0, None, 4),  # 6 s tail >= half a window: kept
        (2.0, 3.0, None, 1),  # shorter than a window: the whole clip
        (30.0, 10.0, 5.0, 5),  # overlapping; the last full window already reaches the end
        (37.0, 10.0, 9.0, 4),  # 0, 9, 18, 27 + a 1 s uncovered tail: dropped
        (42.0, 10.0, 9.0, 5),  # 0, 9, 18, 27 + 5 s uncovered: kept, starting at 36
    ],
)
def test_windows_counts(seconds, window, hop, count):
    assert len(window_spans(int(seconds * 100), 100, window, hop)) == count


def test_windows_cut_back_to_back_by_default_and_keep_a_long_tail():
    assert window_spans(3000, 100, 8.0) == [(0, 800), (800, 1600), (1600, 2400), (2400, 3000)]


def test_overlapping_windows_end_at_the_song_end():
    # 0, 9, 18, 27 and the 5 s tail from 36: a window never reaches past the last sample
    assert window_spans(4200, 100, 10.0, 9.0) == [
        (0, 1000),
        (900, 1900),
        (1800, 2800),
        (2700, 3700),
        (3600, 4200),
    ]


def test_windows_reject_non_positive_lengths():
    with pytest.raises(ValueError, match="positive"):
        window_spans(10, 100, 0.0)


def test_spec_round_trips_through_a_dict():
    spec = SpectrogramSpec(n_mels=64, fmax=8000.0, width=96, height=72)
    assert SpectrogramSpec.from_dict(spec.to_dict()) == spec
    assert SpectrogramSpec.from_dict({}) == SpectrogramSpec()


def test_spec_from_dict_names_unknown_keys():
    with pytest.raises(ValueError, match="colour.*hop"):
        SpectrogramSpec.from_dict({"n_mels": 64, "hop": 256, "colour": "magma"})


def test_spec_rejects_impossible_settings():
    with pytest.raises(ValueError, match="fmax"):
        SpectrogramSpec(fmax=20000.0)
    with pytest.raises(ValueError, match="positive"):
        SpectrogramSpec(width=0)
