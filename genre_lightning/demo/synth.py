"""The demo synthesiser: seven genres of deterministic clips built from simple instruments.

Real genre data cannot be downloaded here, so the demo clips are built from simple instruments with
genre-typical traits (tempo, drums, distortion, bass weight, brightness, vocals). Every clip draws its
tempo, key, mix and noise at random from ranges that overlap between neighbouring genres, so a model
has to learn the classes rather than read off one giveaway feature.

The dataset on disk is made by :mod:`genre_lightning.demo.dataset`.
"""

from __future__ import annotations

import numpy as np
from scipy.signal import butter, lfilter, sosfilt

GENRES = ("Classical", "Electronic", "Folk", "Hip-Hop", "Pop", "Punk", "Rock")
# Bump whenever synthesis or file layout changes, so stale demo folders get rebuilt instead of reused.
GENERATOR_VERSION = 1

_TABLE_SIZE = 4096
_MAJOR = np.array([0, 2, 4, 5, 7, 9, 11])
_MINOR = np.array([0, 2, 3, 5, 7, 8, 10])
_PROGRESSIONS = ((0, 4, 5, 3), (0, 5, 3, 4), (5, 3, 0, 4), (0, 3, 4, 4), (0, 3, 0, 4), (0, 0, 3, 4))
# Formants (Hz) of the vowels a, e, i, o, u: enough to make a buzz read as a voice in a spectrogram.
_VOWELS = np.array(
    [[730, 1090, 2440], [530, 1840, 2480], [270, 2290, 3010], [570, 840, 2410], [300, 870, 2240]]
)


# ---------------------------------------------------------------- building blocks


def _hz(midi):
    return 440.0 * 2.0 ** ((np.asarray(midi, dtype=np.float64) - 69.0) / 12.0)


def _filter(x, sr, btype, cutoff, order=2):
    return sosfilt(butter(order, cutoff, btype=btype, output="sos", fs=sr), x)


def _resonator(x, sr, freq, q):
    # A biquad band-pass from its closed form (RBJ cookbook): a vowel needs three per note, and
    # designing them with butter() costs more than the filtering itself.
    w0 = 2 * np.pi * freq / sr
    alpha = np.sin(w0) / (2 * q)
    return lfilter([alpha, 0.0, -alpha], [1 + alpha, -2 * np.cos(w0), 1 - alpha], x)


def _table(amps) -> np.ndarray:
    """One period of a waveform with the given harmonic amplitudes, for cheap oscillators."""
    amps = np.asarray(amps, dtype=np.float64)
    k = np.arange(1, len(amps) + 1)[:, None]
    wave = (amps[:, None] * np.sin(2 * np.pi * k * np.arange(_TABLE_SIZE) / _TABLE_SIZE)).sum(axis=0)
    return wave / np.abs(wave).max()


_SAW = _table(1.0 / np.arange(1, 25))
_SQUARE = _table([1.0 / k if k % 2 else 0.0 for k in range(1, 25)])


def _osc(table, freq, n, sr, phase=0.0):
    """Wavetable oscillator; ``freq`` is a constant or one value per sample (vibrato, glides)."""
    if np.ndim(freq) == 0:
        position = np.arange(n) * (freq * _TABLE_SIZE / sr)
    else:
        position = np.cumsum(freq[:n]) * (_TABLE_SIZE / sr)
    position += phase * _TABLE_SIZE
    # The table length is a power of two, so masking wraps the phase more cheaply than a modulo.
    return table.take(position.astype(np.int64) & (_TABLE_SIZE - 1))


def _envelope(n, sr, attack, release):
    env = np.ones(n)
    a = min(n, int(attack * sr))
    env[:a] = np.linspace(0.0, 1.0, a, endpoint=False)
    r = min(n - a, int(release * sr))
    if r:
        env[n - r :] *= np.linspace(1.0, 0.0, r)
    return env


def _decay(n, sr, seconds):
    return np.exp(-np.arange(n) / (sr * seconds))


def _add(buf, sound, start, gain=1.0):
    start = int(start)
    if start < 0 or start >= len(buf):
        return
    end = min(len(buf), start + len(sound))
    buf[start:end] += gain * sound[: end - start]


def _norm(x):
    """Scale a part to unit RMS so mix levels below are in dB relative to each other."""
    rms = np.sqrt(np.mean(x**2))
    return x / rms if rms > 0 else x


def _db(level):
    return 10.0 ** (level / 20.0)


def _pluck(freq, seconds, sr, rng, damping):
    """Karplus-Strong string: a noise burst recirculated through an averaging (low-pass) delay line."""
    period = max(2, int(round(sr / freq)))
    n = int(seconds * sr)
    blocks = -(-n // period)
    # y[0] is the silent sample before the burst, so the averaging below needs no special first block.
    y = np.zeros(1 + blocks * period)
    y[1 : period + 1] = rng.uniform(-1.0, 1.0, period)
    # Each block only depends on the previous one, so the recursion runs a period at a time.
    for b in range(1, blocks):
        s = 1 + b * period
        y[s : s + period] = 0.5 * damping * (y[s - period : s] + y[s - period - 1 : s - 1])
    return y[1 : n + 1]


def _voice(freq, seconds, sr, rng, breath=0.05, vibrato=0.01):
    """A sung vowel: a buzzy source with vibrato through three formant resonators."""
    n = max(1, int(seconds * sr))
    t = np.arange(n) / sr
    f = freq * (1.0 + vibrato * np.sin(2 * np.pi * rng.uniform(4.5, 6.5) * t) + rng.uniform(-0.02, 0.02) * t)
    source = _osc(_SAW, f, n, sr) + breath * rng.standard_normal(n)
    formants = _VOWELS[rng.integers(len(_VOWELS))] * rng.uniform(0.9, 1.15)
    out = sum(gain * _resonator(source, sr, fc, q=4.0) for fc, gain in zip(formants, (1.0, 0.6, 0.3)))
    return out * _envelope(n, sr, 0.03, min(0.1, seconds / 3))


def _scale_notes(root, scale, degrees):
    degrees = np.asarray(degrees)
    return root + scale[degrees % 7] + 12 * (degrees // 7)


def _chords(rng, bars):
    progression = _PROGRESSIONS[rng.integers(len(_PROGRESSIONS))]
    return [progression[b % len(progression)] for b in range(bars)]


def _melody_line(buf, sr, rng, root, scale, beat, style):
    """Lay a vocal line (sung, rapped or shouted) over the clip, phrase by phrase with rests."""
    n = len(buf)
    pos = rng.uniform(0.0, 2.0) * beat * sr
    degree = int(rng.integers(0, 7))
    while pos < n:
        if style == "rap":
            seconds = beat * rng.choice([0.25, 0.5], p=[0.7, 0.3])
            freq = _hz(root + 12 + rng.uniform(-3, 3)) * 0.5
            note = _voice(freq, seconds * 0.85, sr, rng, breath=0.3, vibrato=0.0)
            # Consonants: short noise bursts at syllable onsets.
            _add(buf, _filter(rng.standard_normal(int(0.02 * sr)), sr, "highpass", 3000), pos, 0.3)
        else:
            seconds = beat * rng.choice([0.5, 1.0, 1.5, 2.0])
            degree = int(np.clip(degree + rng.integers(-2, 3), 0, 11))
            freq = _hz(_scale_notes(root + 12, scale, [degree])[0])
            breath, vibrato = (0.6, 0.003) if style == "shout" else (0.05, rng.uniform(0.004, 0.015))
            note = _voice(freq, seconds * 0.95, sr, rng, breath=breath, vibrato=vibrato)
            if style == "shout":
                note = np.tanh(3.0 * note / (np.abs(note).max() + 1e-9))
        _add(buf, note, pos, rng.uniform(0.7, 1.0))
        pos += seconds * sr
        if rng.random() < 0.15:
            pos += beat * sr * rng.integers(1, 4)


class _Kit:
    """One clip's drum sounds; genres differ in which pieces they play, how often, and how hard."""

    def __init__(self, sr, rng):
        t = np.arange(int(0.45 * sr)) / sr
        sweep = rng.uniform(42, 60) + rng.uniform(60, 160) * np.exp(-t / rng.uniform(0.02, 0.05))
        kick = np.sin(2 * np.pi * np.cumsum(sweep) / sr) * np.exp(-t / rng.uniform(0.08, 0.25))
        kick[: int(0.003 * sr)] += rng.uniform(-0.6, 0.6, int(0.003 * sr))
        self.kick = kick

        n = int(0.35 * sr)
        body = np.sin(2 * np.pi * rng.uniform(170, 230) * np.arange(n) / sr) * _decay(n, sr, 0.04)
        rattle = _filter(
            rng.standard_normal(n), sr, "bandpass", [rng.uniform(800, 1500), rng.uniform(6000, 9000)]
        )
        self.snare = 0.6 * body + rattle * _decay(n, sr, rng.uniform(0.06, 0.16))

        n = int(0.12 * sr)
        self.hat = _filter(rng.standard_normal(n), sr, "highpass", rng.uniform(6000, 8000)) * _decay(
            n, sr, rng.uniform(0.015, 0.04)
        )
        n = int(0.6 * sr)
        self.open_hat = _filter(rng.standard_normal(n), sr, "highpass", rng.uniform(4500, 7000)) * _decay(
            n, sr, rng.uniform(0.12, 0.3)
        )
        n = int(2.0 * sr)
        self.crash = _filter(rng.standard_normal(n), sr, "highpass", rng.uniform(2500, 4500)) * _decay(
            n, sr, rng.uniform(0.6, 1.4)
        )


def _drums(n, sr, rng, bpm, pattern, swing=0.0, humanize=0.0):
    """Loop a one-bar pattern [(sound, 16th-note steps, gain)] over ``n`` samples, starting mid-bar at
    random."""
    out = np.zeros(n)
    step = 60.0 / bpm / 4.0 * sr
    bar = 16 * step
    start = -rng.uniform(0, bar)
    while start < n:
        for sound, steps, gain in pattern:
            for s in steps:
                offset = (s + (swing if s % 2 else 0.0)) * step + rng.normal(0.0, humanize * sr)
                _add(out, sound, start + offset, gain * rng.uniform(0.75, 1.0))
        start += bar
    return out


def _mix(*parts):
    """Sum (part, level_db) pairs, each part first brought to unit RMS."""
    return sum(_db(level) * _norm(part) for part, level in parts)


def _bass_line(n, sr, rng, notes_per_bar, roots, bar, table, release):
    out = np.zeros(n)
    note_len = bar / notes_per_bar
    start = -rng.uniform(0, bar)
    b = 0
    while start < n:
        freq = _hz(roots[b % len(roots)])
        for k in range(notes_per_bar):
            length = int(note_len * 0.9)
            tone = _osc(table, freq, length, sr) * _envelope(length, sr, 0.005, release * note_len / sr)
            _add(out, tone, start + k * note_len)
        start += bar
        b += 1
    return out


def _pad(n, sr, rng, chord_notes, bar, table, detune=0.0):
    """Sustained chords, one per bar, optionally with detuned doubled voices for a thicker synth sound."""
    out = np.zeros(n)
    start = -rng.uniform(0, bar)
    b = 0
    while start < n:
        length = int(bar)
        env = _envelope(length, sr, 0.05, 0.1)
        for note in chord_notes[b % len(chord_notes)]:
            freq = _hz(note)
            tone = _osc(table, freq, length, sr, rng.random())
            if detune:
                tone = tone + _osc(table, freq * (1 + detune), length, sr, rng.random())
            _add(out, tone * env, start)
        start += bar
        b += 1
    return out


def _guitar(n, sr, rng, chord_roots, bar, strums_per_bar, drive, palm_mute):
    """Power chords (root, fifth, octave) through tanh clipping and a speaker-cabinet low-pass."""
    out = np.zeros(n)
    length = int(bar / strums_per_bar)
    start = -rng.uniform(0, bar)
    b = 0
    while start < n:
        root = chord_roots[b % len(chord_roots)]
        for k in range(strums_per_bar):
            chord = sum(
                _osc(_SAW, _hz(root + interval) * rng.uniform(0.997, 1.003), length, sr, rng.random())
                for interval in (0, 7, 12)
            )
            decay = _decay(length, sr, 0.06) if palm_mute else _envelope(length, sr, 0.004, 0.02)
            _add(out, np.tanh(drive * chord * decay), start + k * length)
        start += bar
        b += 1
    return _filter(out, sr, "lowpass", rng.uniform(3000, 5500), order=4)


# ---------------------------------------------------------------- genres


def _key(rng, low, high):
    return int(rng.integers(low, high)), (_MAJOR if rng.random() < 0.5 else _MINOR)


def _triads(root, scale, degrees):
    return [_scale_notes(root, scale, [d, d + 2, d + 4]) for d in degrees]


def _classical(n, sr, rng):
    bpm = rng.uniform(50, 95)
    beat = 60.0 / bpm
    root, scale = _key(rng, 48, 60)
    out = np.zeros(n)
    strings = rng.random() < 0.65
    piano = not strings or rng.random() < 0.35
    bright = _table(rng.uniform(0.4, 1.0) / np.arange(1, 13) ** rng.uniform(0.8, 1.6))
    for voice in range(int(rng.integers(1, 4))):
        pos = rng.uniform(0, beat) * sr
        degree = int(rng.integers(0, 7)) + 7 * (voice % 3)
        while pos < n:
            seconds = beat * rng.choice([0.5, 1.0, 2.0, 3.0] if voice else [1.0, 2.0, 4.0])
            degree = int(np.clip(degree + rng.integers(-2, 3), 0, 20))
            freq = _hz(_scale_notes(root, scale, [degree])[0])
            length = int(seconds * sr)
            t = np.arange(length) / sr
            if strings:
                vib = freq * (1 + 0.006 * np.sin(2 * np.pi * rng.uniform(4.5, 6.5) * t))
                note = _osc(bright, vib, length, sr) * _envelope(
                    length, sr, rng.uniform(0.08, 0.4), 0.25 * seconds
                )
                _add(out, note, pos, rng.uniform(0.5, 1.0))
            if piano:
                # Hammered strings: bright at the strike, mellowing as the upper partials die first.
                note = _osc(_SAW, freq, length, sr) * _decay(length, sr, 0.15) + _osc(
                    _table([1, 0.3, 0.1]), freq, length, sr
                ) * _decay(length, sr, 0.9)
                _add(out, note * _envelope(length, sr, 0.003, 0.05), pos, rng.uniform(0.4, 1.0))
            pos += length
            if rng.random() < 0.3:
                pos += rng.uniform(1, 2) * beat * sr
    # Wide dynamics: slow swells and fades of up to ~30 dB across the clip.
    control = np.cumsum(rng.normal(0, 6, 8))
    gain_db = np.interp(np.arange(n), np.linspace(0, n, 8), control - control.max())
    out *= _db(np.maximum(gain_db, -30))
    return _filter(out, sr, "lowpass", rng.uniform(4000, 9000), order=2)


def _electronic(n, sr, rng):
    bpm = rng.uniform(118, 132)
    beat = 60.0 / bpm * sr
    bar = 4 * beat
    root, scale = _key(rng, 33, 45)
    kit = _Kit(sr, rng)
    degrees = _chords(rng, 8)
    pattern = [(kit.kick, [0, 4, 8, 12], 1.0), (kit.open_hat, [2, 6, 10, 14], 0.5)]
    if rng.random() < 0.7:
        pattern.append((kit.snare, [4, 12], 0.6))
    if rng.random() < 0.6:
        pattern.append((kit.hat, range(16), 0.3))
    drums = _drums(n, sr, rng, bpm, pattern)
    bass = _filter(
        _bass_line(n, sr, rng, int(rng.choice([4, 8])), _scale_notes(root, scale, degrees), bar, _SAW, 0.3),
        sr,
        "lowpass",
        rng.uniform(300, 1500),
    )
    pad = _filter(
        _pad(n, sr, rng, _triads(root + 24, scale, degrees), bar, _SAW, detune=rng.uniform(0.004, 0.012)),
        sr,
        "lowpass",
        rng.uniform(1500, 6000),
    )
    # Sidechain pumping: everything but the kick ducks on each beat and swells back.
    since_beat = (np.arange(n) % beat) / sr
    pump = 1.0 - rng.uniform(0.5, 0.9) * np.exp(-since_beat / rng.uniform(0.06, 0.15))
    parts = [(drums, 0.0), (bass * pump, rng.uniform(-6, 0)), (pad * pump, rng.uniform(-12, -3))]
    if rng.random() < 0.5:
        arp_notes = np.concatenate(_triads(root + 36, scale, degrees[:1]))
        arp = np.zeros(n)
        step = beat / 4
        for k in range(int(n / step) + 1):
            length = int(step * 0.8)
            tone = _osc(_SQUARE, _hz(arp_notes[k % len(arp_notes)]), length, sr) * _decay(length, sr, 0.05)
            _add(arp, tone, k * step)
        parts.append((_filter(arp, sr, "lowpass", rng.uniform(2000, 8000)), rng.uniform(-15, -6)))
    return _mix(*parts)


def _folk(n, sr, rng):
    bpm = rng.uniform(75, 125)
    beat = 60.0 / bpm
    root, scale = _key(rng, 40, 52)
    guitar = np.zeros(n)
    strings = {}

    def string(midi):
        # Re-plucking a string re-uses its sound: Karplus-Strong is the expensive part of a clip.
        if midi not in strings:
            strings[midi] = _pluck(_hz(midi), 2.0, sr, rng, rng.uniform(0.992, 0.998))
        return strings[midi]

    strum = rng.random() < 0.5
    pos = rng.uniform(0, beat) * sr
    for degree in _chords(rng, 16):
        # An open voicing over two octaves, as a guitar chord shape spreads its strings.
        chord = [int(m) for m in _scale_notes(root, scale, [degree + step for step in (0, 4, 7, 9, 11)])]
        for _ in range(4 if strum else 8):
            if strum:
                for j, m in enumerate(chord):
                    _add(guitar, string(m), pos + j * rng.uniform(0.008, 0.025) * sr, rng.uniform(0.5, 1.0))
                pos += beat * sr
            else:
                _add(guitar, string(chord[int(rng.integers(len(chord)))]), pos, rng.uniform(0.5, 1.0))
                pos += beat * sr / 2
        if pos >= n:
            break
    parts = [(guitar, 0.0)]
    if rng.random() < 0.5:
        voice = np.zeros(n)
        _melody_line(voice, sr, rng, root + 12, scale, beat, "sing")
        parts.append((voice, rng.uniform(-12, -2)))
    if rng.random() < 0.25:
        kit = _Kit(sr, rng)
        shaker = _drums(n, sr, rng, bpm, [(kit.hat, [0, 4, 8, 12], 1.0)], humanize=0.01)
        parts.append((shaker, rng.uniform(-25, -15)))
    # Acoustic recordings: little energy up high.
    return _filter(_mix(*parts), sr, "lowpass", rng.uniform(2500, 6000), order=4)


def _hip_hop(n, sr, rng):
    bpm = rng.uniform(84, 96)
    beat = 60.0 / bpm
    bar = 4 * beat * sr
    root, scale = _key(rng, 28, 40)
    kit = _Kit(sr, rng)
    kicks = [[0, 7, 10], [0, 8, 10], [0, 3, 10], [0, 7, 9, 14]][int(rng.integers(4))]
    pattern = [(kit.kick, kicks, 1.0), (kit.snare, [4, 12], 0.9)]
    if rng.random() < 0.75:
        pattern.append((kit.hat, range(0, 16, 2), 0.35))
    drums = _drums(n, sr, rng, bpm, pattern, swing=rng.uniform(0.0, 0.35), humanize=0.006)
    degrees = _chords(rng, 4)
    # 808: long sine notes locked to the kicks, the heavy sub-bass of the genre.
    sub = np.zeros(n)
    start = -rng.uniform(0, bar)
    b = 0
    while start < n:
        freq = _hz(_scale_notes(root, scale, [degrees[b % 4]])[0])
        for s in kicks:
            length = int(rng.uniform(0.4, 0.9) * sr)
            tone = np.sin(2 * np.pi * freq * np.arange(length) / sr) * _decay(
                length, sr, rng.uniform(0.3, 0.8)
            )
            _add(sub, tone, start + s * bar / 16)
        start += bar
        b += 1
    loop = _filter(
        _pad(n, sr, rng, _triads(root + 36, scale, degrees), bar, _table([1, 0.5, 0.2, 0.1])),
        sr,
        "lowpass",
        rng.uniform(1500, 4000),
    )
    parts = [(drums, 0.0), (sub, rng.uniform(-3, 3)), (loop, rng.uniform(-20, -8))]
    if rng.random() < 0.65:
        voice = np.zeros(n)
        _melody_line(voice, sr, rng, root + 24, scale, beat, "rap")
        parts.append((voice, rng.uniform(-10, -3)))
    return _mix(*parts)


def _pop(n, sr, rng):
    bpm = rng.uniform(96, 126)
    beat = 60.0 / bpm
    bar = 4 * beat * sr
    root, scale = _key(rng, 36, 48)
    kit = _Kit(sr, rng)
    four_floor = rng.random() < 0.3
    pattern = [
        (kit.kick, [0, 4, 8, 12] if four_floor else [0, 8, 10], 1.0),
        (kit.snare, [4, 12], 0.8),
        (kit.hat, range(0, 16, 2), 0.4),
    ]
    drums = _drums(n, sr, rng, bpm, pattern, humanize=0.002)
    degrees = _chords(rng, 8)
    bass = _filter(
        _bass_line(n, sr, rng, 8, _scale_notes(root, scale, degrees), bar, _table([1, 0.4, 0.2]), 0.6),
        sr,
        "lowpass",
        800,
    )
    keys = _pad(n, sr, rng, _triads(root + 24, scale, degrees), bar, _table([1, 0.5, 0.3, 0.2, 0.1]))
    voice = np.zeros(n)
    _melody_line(voice, sr, rng, root + 24, scale, beat, "sing")
    parts = [
        (drums, 0.0),
        (bass, rng.uniform(-8, -2)),
        (keys, rng.uniform(-14, -6)),
        (voice, rng.uniform(-6, 2)),
    ]
    if rng.random() < 0.3:
        roots = _scale_notes(root + 12, scale, degrees)
        parts.append((_guitar(n, sr, rng, roots, bar, 8, rng.uniform(1.0, 3.0), True), rng.uniform(-16, -8)))
    return _mix(*parts)


def _band(n, sr, rng, bpm, drive, strums, crash_every, density, vocal_p, root_range):
    """Shared by rock and punk: drums, distorted guitar, bass, maybe vocals; the genres differ by the knobs.

    ``crash_every`` is the number of bars between crash cymbals (0: none).
    """
    beat = 60.0 / bpm
    bar = 4 * beat * sr
    root, scale = _key(rng, *root_range)
    kit = _Kit(sr, rng)
    pattern = [
        (kit.kick, *density["kick"]),
        (kit.snare, *density["snare"]),
        (kit.open_hat if rng.random() < density["open_p"] else kit.hat, *density["hat"]),
    ]
    drums = _drums(n, sr, rng, bpm, pattern, humanize=0.004)
    crashes = _drums(n, sr, rng, bpm / crash_every, [(kit.crash, [0], 1.0)]) if crash_every else np.zeros(n)
    degrees = _chords(rng, 8)
    roots = _scale_notes(root, scale, degrees)
    guitar = _guitar(n, sr, rng, roots + 12, bar, strums, drive, palm_mute=rng.random() < 0.4)
    bass = _filter(_bass_line(n, sr, rng, 8, roots - 12, bar, _SAW, 0.8), sr, "lowpass", 700)
    parts = [
        (drums, 0.0),
        (crashes, rng.uniform(-12, -4)),
        (guitar, rng.uniform(-4, 3)),
        (bass, rng.uniform(-10, -3)),
    ]
    if rng.random() < vocal_p:
        voice = np.zeros(n)
        _melody_line(voice, sr, rng, root + 24, scale, beat, "shout" if drive > 8 else "sing")
        parts.append((voice, rng.uniform(-8, 0)))
    return _mix(*parts)


def _rock(n, sr, rng):
    density = {
        "kick": ([0, 8, 10] if rng.random() < 0.6 else [0, 6, 8], 1.0),
        "snare": ([4, 12], 0.9),
        "hat": (range(0, 16, 2), 0.4),
        "open_p": 0.35,
    }
    return _band(
        n,
        sr,
        rng,
        bpm=rng.uniform(105, 150),
        drive=rng.uniform(2.0, 10.0),
        strums=int(rng.choice([1, 2, 4, 8])),
        crash_every=int(rng.choice([0, 4, 8])),
        density=density,
        vocal_p=0.55,
        root_range=(36, 48),
    )


def _punk(n, sr, rng):
    density = {
        "kick": ([0, 4, 8, 12] if rng.random() < 0.5 else [0, 6, 8, 14], 1.0),
        "snare": ([2, 6, 10, 14] if rng.random() < 0.6 else [4, 12], 0.9),
        "hat": (range(0, 16, 2), 0.6),
        "open_p": 0.75,
    }
    return _band(
        n,
        sr,
        rng,
        bpm=rng.uniform(150, 200),
        drive=rng.uniform(6.0, 25.0),
        strums=int(rng.choice([8, 8, 16])),
        crash_every=int(rng.choice([1, 2, 4])),
        density=density,
        vocal_p=0.55,
        root_range=(38, 50),
    )


_SYNTHS = {
    "Classical": _classical,
    "Electronic": _electronic,
    "Folk": _folk,
    "Hip-Hop": _hip_hop,
    "Pop": _pop,
    "Punk": _punk,
    "Rock": _rock,
}


def synthesize(genre: str, rng: np.random.Generator, seconds: float, sample_rate: int) -> np.ndarray:
    """A ``seconds``-long mono float32 clip of ``genre``, peak-normalised, everything drawn from ``rng``."""
    if genre not in _SYNTHS:
        raise ValueError(f"unknown genre {genre!r}; choose one of {', '.join(GENRES)}")
    n = int(round(seconds * sample_rate))
    x = _SYNTHS[genre](n, sample_rate, rng)
    # Recording conditions shared by all genres, so that noise floor and bandwidth say nothing about the
    # class.
    noise = _filter(rng.standard_normal(n), sample_rate, "lowpass", rng.uniform(500, 4000), order=1)
    noise += 0.2 * rng.standard_normal(n)
    x = _norm(x) + _db(-rng.uniform(40, 70)) * _norm(noise)
    if rng.random() < 0.4:
        x = _filter(x, sample_rate, "lowpass", rng.uniform(6000, 0.95 * sample_rate / 2), order=8)
    return (0.9 * x / np.abs(x).max()).astype(np.float32)
