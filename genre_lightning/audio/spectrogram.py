"""Audio -> mel-spectrogram image, matching the look of the project's training images.

The real datasets are librosa-style ``specshow(power_to_db(melspectrogram(y), ref=np.max))`` drawn
without axes: low frequencies at the bottom, time left to right. The published one in magma at
1984x1478 (drawn here by resizing the dB levels, ``draw="resize"``); FMA-small's 128x128 viridis images
as matplotlib rasterised them on a small figure (``draw="specshow"``: which of a clip's ~2,600 frames a
pixel column shows is the rasteriser's doing, so the same drawing is repeated here).
Every path that turns audio into an image (demo data, audio-folder conversion,
prediction on audio files) goes through :func:`render`, so train and serve pixels agree.
"""

from __future__ import annotations

import functools
import io
import math
import warnings
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

import numpy as np
import soundfile as sf
from PIL import Image
from scipy import sparse
from scipy.fft import rfft
from scipy.signal import get_window, resample_poly

from genre_lightning.errors import InputWarning, UserError
from genre_lightning.tables import shown

# librosa's power_to_db floor: keeps log10 finite on digital silence.
_AMIN = 1e-10
DRAWINGS = ("resize", "specshow")


@dataclass(frozen=True)
class SpectrogramSpec:
    sample_rate: int = 22050
    n_fft: int = 2048
    hop_length: int = 512
    n_mels: int = 128
    fmin: float = 0.0
    fmax: float | None = None  # None = sample_rate / 2
    top_db: float = 80.0  # dynamic range kept below the clip's loudest bin
    width: int = 1984
    height: int = 1478
    # a matplotlib colormap's name
    colormap: str = "magma"
    # True: each file is read at its own sample rate, never resampled (fmax None = its Nyquist);
    # sample_rate is then only the rate of audio made here (the demo synthesiser's)
    native_rate: bool = False
    # how the dB array becomes pixels: "resize" (its levels resized to width x height, then coloured) or
    # "specshow" (drawn by matplotlib as librosa's specshow on a width x height px figure, then resized
    # back to width x height: see draw_specshow)
    draw: str = "resize"

    def __post_init__(self) -> None:
        if self.draw not in DRAWINGS:
            raise ValueError(f"SpectrogramSpec.draw must be one of {', '.join(DRAWINGS)}, got {self.draw!r}")
        _lut(self.colormap)  # an unknown name fails here
        nyquist = self.sample_rate / 2
        fmax = nyquist if self.fmax is None else self.fmax
        if min(self.sample_rate, self.n_fft, self.hop_length, self.n_mels, self.width, self.height) <= 0:
            raise ValueError(f"SpectrogramSpec sizes must be positive, got {self}")
        if not 0 <= self.fmin < fmax <= nyquist:
            raise ValueError(
                f"SpectrogramSpec needs 0 <= fmin < fmax <= sample_rate/2 ({nyquist}), got {self}"
            )
        if self.top_db <= 0:
            raise ValueError(f"SpectrogramSpec.top_db must be positive, got {self.top_db}")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> SpectrogramSpec:
        check_keys(cls, d, "SpectrogramSpec")
        return cls(**d)

    def at_rate(self, rate: int) -> SpectrogramSpec:
        """The spec for audio read at ``rate``: itself, or with native_rate itself at sample rate ``rate``."""
        return replace(self, sample_rate=int(rate)) if self.native_rate else self


# the plain values a field of these annotations takes (read from files: no bool for a number, no string)
_PLAIN = {
    "int": (int,),
    "float": (int, float),
    "float | None": (int, float, type(None)),
    "bool": (bool,),
    "str": (str,),
}


def check_keys(cls, d: dict, name: str) -> None:
    """ValueError naming the keys of ``d`` that are not fields of the dataclass ``cls``; TypeError for ``d``
    not a mapping, or a value that is not of its field's plain type."""
    if not isinstance(d, dict):
        raise TypeError(f"{name} must be a mapping of its settings, got {type(d).__name__}")
    unknown = sorted(set(d) - {f.name for f in fields(cls)})
    if unknown:
        raise ValueError(f"unknown {name} keys: {', '.join(map(str, unknown))}")
    for f in fields(cls):
        kinds = _PLAIN.get(f.type)
        bad_bool = isinstance(d.get(f.name), bool) and bool not in (kinds or ())
        if f.name in d and kinds and (bad_bool or not isinstance(d[f.name], kinds)):
            raise TypeError(
                f"{name}.{f.name} must be {f.type.replace(' | None', ' or null')}, got {d[f.name]!r}"
            )


class AudioError(UserError):
    """An audio file that cannot be used; the message is one line naming the file and the fix."""


def _undecodable(path, reason: str) -> AudioError:
    return AudioError(f"{shown(path)}: cannot decode audio ({reason}); supported: wav, flac, ogg, mp3")


def _is_audio_header(head: bytes) -> bool:
    """Whether a file's first 4 bytes start a wav, flac, ogg or mp3 file (an ID3 tag or an MPEG frame)."""
    if head.startswith((b"RIFF", b"RF64", b"fLaC", b"OggS", b"ID3")):
        return True
    # an MPEG audio frame header: 11 sync bits, then a version, layer, bitrate and sample rate that exist
    return (
        len(head) == 4
        and head[0] == 0xFF
        and head[1] & 0xE0 == 0xE0
        and (head[1] >> 3) & 3 != 1
        and (head[1] >> 1) & 3 != 0
        and head[2] >> 4 != 0xF
        and (head[2] >> 2) & 3 != 3
    )


def _libsndfile(path, call):
    """``call()`` with libsndfile's errors as one-line AudioErrors naming ``path``."""
    if not Path(path).is_file():
        raise _undecodable(path, "no such file")
    with open(path, "rb") as file:
        head = file.read(4)
    if not _is_audio_header(head):
        # Checked first: libsndfile hands an unknown file named .mp3 to mpg123, which prints its attempts
        # to find a frame on stderr, and then reports that the file does not exist.
        raise AudioError(
            f"{shown(path)}: not an audio file "
            f"({'empty' if not head else 'no wav, flac, ogg or mp3 header'}); supported: wav, flac, ogg, mp3"
        )
    try:
        return call()
    except (RuntimeError, OSError) as e:  # LibsndfileError is a RuntimeError
        # libsndfile's own wording can span lines, and for a damaged mp3 blames the file's existence.
        reason = " ".join(str(e).split())
        if "does not exist" in reason:
            raise _undecodable(path, "truncated or damaged") from None
        raise _undecodable(path, f"unrecognised or corrupt file; libsndfile: {reason}") from None


def audio_seconds(path) -> float:
    """The length of an audio file, read from its header (the samples are not decoded)."""
    return _libsndfile(path, lambda: sf.info(str(path)).duration)


def audio_rate(path) -> int:
    """The sample rate of an audio file, read from its header."""
    return int(_libsndfile(path, lambda: sf.info(str(path)).samplerate))


def load_audio(path, sample_rate: int) -> np.ndarray:
    """Decode ``path`` to mono float32 at ``sample_rate``.

    Float files can hold NaN or infinite samples (a faulty export or effect), which would turn the whole
    spectrogram into the colour of silence: they are read as silence (0), with an InputWarning giving their
    count, and a file of nothing else is an AudioError.
    """
    data, file_rate = _libsndfile(path, lambda: sf.read(str(path), dtype="float32", always_2d=True))
    if data.size == 0:
        raise _undecodable(path, "file holds no samples")
    audio = data.mean(axis=1)
    broken = ~np.isfinite(audio)
    if broken.all():
        raise AudioError(
            f"{shown(path)}: every sample is NaN or infinite, no audio to predict; re-export the file"
        )
    if broken.any():
        warnings.warn(
            f"{int(broken.sum()):,} of {len(audio):,} samples are NaN or infinite (read as silence)",
            InputWarning,
            stacklevel=2,
        )
        audio[broken] = 0.0
    if file_rate != sample_rate:
        g = math.gcd(int(file_rate), int(sample_rate))
        audio = resample_poly(audio, sample_rate // g, file_rate // g)
    return np.ascontiguousarray(audio, dtype=np.float32)


def _hz_to_mel(hz):
    # Slaney scale (librosa's default, htk=False): linear below 1 kHz, logarithmic above.
    hz = np.asarray(hz, dtype=np.float64)
    f_sp, min_log_hz, logstep = 200.0 / 3, 1000.0, math.log(6.4) / 27.0
    linear = hz / f_sp
    log = min_log_hz / f_sp + np.log(np.maximum(hz, min_log_hz) / min_log_hz) / logstep
    return np.where(hz >= min_log_hz, log, linear)


def _mel_to_hz(mel):
    mel = np.asarray(mel, dtype=np.float64)
    f_sp, min_log_hz, logstep = 200.0 / 3, 1000.0, math.log(6.4) / 27.0
    min_log_mel = min_log_hz / f_sp
    linear = f_sp * mel
    log = min_log_hz * np.exp(logstep * (mel - min_log_mel))
    return np.where(mel >= min_log_mel, log, linear)


def hz_to_mel(hz):
    """Hz on the Slaney mel scale the spectrograms are drawn with: where a frequency sits on the image."""
    return _hz_to_mel(hz)


@functools.cache
def _mel_filterbank_cached(sample_rate: int, n_fft: int, n_mels: int, fmin: float, fmax: float) -> np.ndarray:
    fft_freqs = np.linspace(0.0, sample_rate / 2, n_fft // 2 + 1)
    mel_edges = _mel_to_hz(np.linspace(_hz_to_mel(fmin), _hz_to_mel(fmax), n_mels + 2))
    widths = np.diff(mel_edges)
    ramps = mel_edges[:, None] - fft_freqs[None, :]
    rising = -ramps[:-2] / widths[:-1, None]
    falling = ramps[2:] / widths[1:, None]
    weights = np.maximum(0.0, np.minimum(rising, falling))
    # Slaney area normalisation: each triangle integrates to the same energy, whatever its width.
    weights *= (2.0 / (mel_edges[2:] - mel_edges[:-2]))[:, None]
    weights = weights.astype(np.float32)
    weights.flags.writeable = False  # shared through the cache
    return weights


def mel_filterbank(spec: SpectrogramSpec) -> np.ndarray:
    """[n_mels, n_fft//2 + 1] Slaney-scale, area-normalised triangles (librosa.filters.mel defaults)."""
    fmax = spec.sample_rate / 2 if spec.fmax is None else spec.fmax
    return _mel_filterbank_cached(spec.sample_rate, spec.n_fft, spec.n_mels, float(spec.fmin), float(fmax))


@functools.cache
def _sparse_filterbank(spec: SpectrogramSpec) -> sparse.csr_matrix:
    # Each FFT bin feeds at most two mel bands; a dense product would also go through multi-threaded BLAS,
    # which is far slower than this when the cores are busy (data loader workers, a training process).
    return sparse.csr_matrix(mel_filterbank(spec))


@functools.cache
def _hann(n_fft: int) -> np.ndarray:
    window = get_window("hann", n_fft, fftbins=True).astype(np.float32)
    window.flags.writeable = False
    return window


def log_mel(audio: np.ndarray, spec: SpectrogramSpec) -> np.ndarray:
    """[n_mels, frames] power in dB relative to the clip's maximum: max 0, floor -top_db."""
    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim != 1:
        raise ValueError(f"log_mel expects mono 1-D audio, got shape {audio.shape}")
    # Centred frames with zero padding (librosa >= 0.10 default), so frame t is centred on sample t*hop.
    pad = spec.n_fft // 2
    padded = np.pad(audio, (pad, pad))
    frames = np.lib.stride_tricks.sliding_window_view(padded, spec.n_fft)[:: spec.hop_length]
    stft = rfft(frames * _hann(spec.n_fft), axis=-1)
    power = stft.real**2 + stft.imag**2
    mel = _sparse_filterbank(spec) @ power.T
    ref = float(mel.max())
    if ref <= _AMIN:
        # librosa would call digital silence 0 dB (its own max); showing it as the floor is what a viewer
        # expects.
        return np.full(mel.shape, -spec.top_db, dtype=np.float32)
    db = 10.0 * np.log10(np.maximum(mel, _AMIN) / ref)
    return np.maximum(db, -spec.top_db).astype(np.float32)


@functools.cache
def _lut(colormap: str) -> np.ndarray:
    import matplotlib  # only needed once to build the table; keeps importing this module cheap

    try:
        colors = matplotlib.colormaps[colormap](np.linspace(0.0, 1.0, 256))
    except KeyError:
        raise ValueError(
            f"unknown colormap {colormap!r}; use a matplotlib name such as magma or viridis"
        ) from None
    lut = np.round(colors[:, :3] * 255).astype(np.uint8)
    lut.flags.writeable = False
    return lut


def to_image(db: np.ndarray, spec: SpectrogramSpec) -> Image.Image:
    """Colour a [n_mels, frames] dB array as an RGB image of spec.width x spec.height, drawn as spec.draw
    says."""
    db = np.asarray(db, dtype=np.float32)
    if db.ndim != 2:
        raise ValueError(f"to_image expects a 2-D [n_mels, frames] array, got shape {db.shape}")
    if spec.draw == "specshow":
        return draw_specshow(db, spec)
    # Row 0 of an image is its top; spectrogram convention puts low frequencies at the bottom.
    level = (np.flipud(db) + spec.top_db) / spec.top_db
    # Interpolate levels before colouring: blending RGB would invent colours that are not on the magma curve.
    size = (spec.width, spec.height)
    level = np.asarray(Image.fromarray(np.ascontiguousarray(level)).resize(size, Image.Resampling.BILINEAR))
    # matplotlib's own quantisation for a 256-entry colormap.
    index = np.clip((level * 256).astype(np.int32), 0, 255)
    return Image.fromarray(_lut(spec.colormap)[index])


def draw_specshow(db: np.ndarray, spec: SpectrogramSpec) -> Image.Image:
    """The dB array as FMA-small's images were made: librosa's specshow (a pcolormesh of one cell per frame
    and mel band, coloured over the array's own min..max) on a spec.width x spec.height px figure at 100 dpi
    with matplotlib's default margins and no axes, saved with a tight box (no padding: the data set's
    images have no white border), then resized to spec.width x spec.height with PIL's default filter."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # imported on first use, as _lut's
    from matplotlib.figure import Figure

    dpi = 100
    figure = Figure(figsize=(spec.width / dpi, spec.height / dpi), dpi=dpi)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    # cell centres at 0..n-1, as specshow's coordinates for an axis of no type; autoscaling then shows
    # exactly the mesh
    axes.pcolormesh(np.arange(db.shape[1]), np.arange(db.shape[0]), db, cmap=spec.colormap, shading="auto")
    axes.set_axis_off()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", bbox_inches="tight", pad_inches=0)
    with Image.open(buffer) as drawn:
        return drawn.convert("RGB").resize((spec.width, spec.height))


def render(audio: np.ndarray, spec: SpectrogramSpec) -> Image.Image:
    """Mono audio at spec.sample_rate -> the spectrogram image the models are trained on."""
    return to_image(log_mel(audio, spec), spec)


def window_spans(
    length: int, sample_rate: int, window_seconds: float | None, hop_seconds: float | None = None
) -> list[tuple[int, int]]:
    """Where to cut ``length`` samples into windows of ``window_seconds`` every ``hop_seconds`` (default: back
    to back): (start, end) sample indices.

    ``None`` keeps the whole clip. A clip shorter than a window stays one (shorter) window. After the full
    windows, one shorter trailing window is added only if at least half a window of audio is still uncovered.
    """
    if window_seconds is None:
        return [(0, length)]
    hop_seconds = window_seconds if hop_seconds is None else hop_seconds
    if window_seconds <= 0 or hop_seconds <= 0:
        raise ValueError(f"window and hop must be positive seconds, got {window_seconds} and {hop_seconds}")
    win = max(1, round(window_seconds * sample_rate))
    hop = max(1, round(hop_seconds * sample_rate))
    if length <= win:
        return [(0, length)]
    starts = list(range(0, length - win + 1, hop))
    if length - (starts[-1] + win) >= win / 2:
        starts.append(starts[-1] + hop)
    return [(start, min(start + win, length)) for start in starts]


__all__ = [
    "AudioError",
    "SpectrogramSpec",
    "audio_rate",
    "audio_seconds",
    "hz_to_mel",
    "load_audio",
    "log_mel",
    "draw_specshow",
    "mel_filterbank",
    "render",
    "to_image",
    "window_spans",
]
