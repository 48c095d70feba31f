"""Procedural event sounds for the 14 DCASE2020 Task 3 classes.

No recordings can be shipped or downloaded, so every class is a small
synthesis recipe built from a handful of shared primitives (band-limited
pulse trains, explicit partial sums, resonators, gated cadences, impacts).
Each call draws a new instance (pitch, rhythm, timbre details) from the given
`numpy.random.Generator`, so two events of one class never sound identical,
while the classes keep distinct spectra, envelopes and temporal patterns.
The primitives and recipe families are public: `desed`, `tut` and `weakmix`
build their own classes from them.

Example:
    >>> rng = np.random.default_rng(0)
    >>> audio = synthesize_event("alarm", 2.0, rng)   # float32, 48000 samples
"""

from __future__ import annotations

import functools
from typing import Callable, Sequence

import numpy as np
from scipy import signal

from seld_tf.datasets.dcase2020_seld import CLASS_NAMES
from seld_tf.errors import ConfigError

SAMPLE_RATE = 24000
# Every event starts and ends with this fade so that cutting a recipe to the
# requested duration never produces a click at the event boundaries.
_EDGE_FADE_SECONDS = 0.005
# Loudness is normalised on the loudest window of this length, so sparse
# sounds (knocks, footsteps) are as loud as dense ones when they sound.
_LOUDNESS_WINDOW_SECONDS = 0.05

SoundGenerator = Callable[[np.random.Generator, int, int], np.ndarray]
"""`(rng, num_samples, sample_rate) -> float64 [num_samples]` un-normalised event."""


# ----------------------------------------------------------------------------
# Primitives
# ----------------------------------------------------------------------------


def _cycles(frequency: np.ndarray | float, num_samples: int, sample_rate: int) -> np.ndarray:
    """Cumulative cycles (unwrapped phase / 2 pi) of a tone following `frequency` (Hz per sample)."""
    frequency = np.broadcast_to(np.asarray(frequency, dtype=np.float64), (num_samples,))
    return np.cumsum(frequency / sample_rate)


def phase(frequency: np.ndarray | float, num_samples: int, sample_rate: int) -> np.ndarray:
    """Instantaneous phase in [0, 2 pi) of a tone following `frequency` (Hz per sample)."""
    cycles = _cycles(frequency, num_samples, sample_rate)
    return 2.0 * np.pi * (cycles - np.floor(cycles))


def partials(
    frequency: np.ndarray | float,
    ratios: Sequence[float],
    amplitudes: Sequence[float],
    num_samples: int,
    sample_rate: int,
) -> np.ndarray:
    """Sum of sinusoids at `ratio * frequency`; partials above Nyquist are dropped."""
    cycles = _cycles(frequency, num_samples, sample_rate)
    top = float(np.max(frequency))
    out = np.zeros(num_samples)
    for ratio, amplitude in zip(ratios, amplitudes):
        if ratio * top < 0.45 * sample_rate:
            # Wrap after scaling: non-integer ratios (inharmonic partials) must not jump.
            partial_cycles = ratio * cycles
            out += amplitude * np.sin(2.0 * np.pi * (partial_cycles - np.floor(partial_cycles)))
    return out


def pulse_train(frequency: np.ndarray | float, num_samples: int, sample_rate: int, tilt_hz: float) -> np.ndarray:
    """Band-limited pulse train (all harmonics below Nyquist) with a spectral tilt.

    The flat harmonic sum is the closed-form Dirichlet kernel, so the cost does
    not grow with the number of harmonics (a 30 Hz engine has ~400 of them);
    the kernel is 2 pi-periodic, so the wrapped phase is exact.
    A one-pole low-pass at `tilt_hz` then gives the -6 dB/octave roll-off of
    glottal and combustion sources.
    """
    angle = phase(frequency, num_samples, sample_rate)
    num_harmonics = int(0.45 * sample_rate / float(np.max(frequency)))
    half = np.sin(angle / 2.0)
    safe = np.where(np.abs(half) < 1e-9, 1.0, half)
    kernel = np.where(np.abs(half) < 1e-9, num_harmonics + 0.5, np.sin((num_harmonics + 0.5) * angle) / (2.0 * safe))
    pulses = (kernel - 0.5) / num_harmonics
    pole = np.exp(-2.0 * np.pi * tilt_hz / sample_rate)
    return signal.lfilter([1.0 - pole], [1.0, -pole], pulses)


def resonators(
    x: np.ndarray, centres: Sequence[float], bandwidths: Sequence[float], gains: Sequence[float], sample_rate: int
) -> np.ndarray:
    """Parallel bank of two-pole resonators: formants of a voice or modes of a body."""
    out = np.zeros_like(x)
    for centre, bandwidth, gain in zip(centres, bandwidths, gains):
        if centre >= 0.45 * sample_rate:
            continue
        radius = np.exp(-np.pi * bandwidth / sample_rate)
        theta = 2.0 * np.pi * centre / sample_rate
        # (1 - r) normalises the peak gain of the resonator to about one.
        out += gain * signal.lfilter([1.0 - radius], [1.0, -2.0 * radius * np.cos(theta), radius**2], x)
    return out


def filtered_noise(
    rng: np.random.Generator, num_samples: int, sample_rate: int, low_hz: float | None, high_hz: float | None
) -> np.ndarray:
    """White noise through a 2nd-order Butterworth high-pass (`low_hz`) and/or low-pass (`high_hz`)."""
    noise = rng.standard_normal(num_samples)
    if low_hz is not None:
        noise = signal.sosfilt(butterworth("highpass", low_hz, sample_rate), noise)
    if high_hz is not None and high_hz < 0.475 * sample_rate:
        noise = signal.sosfilt(butterworth("lowpass", high_hz, sample_rate), noise)
    return noise


@functools.lru_cache(maxsize=64)
def butterworth(kind: str, cutoff_hz: float, sample_rate: int) -> np.ndarray:
    """2nd-order Butterworth sections, cached: impacts design the same filter many times."""
    return signal.butter(2, cutoff_hz / (0.5 * sample_rate), kind, output="sos")


def unit_rms(x: np.ndarray) -> np.ndarray:
    """`x` scaled to unit RMS (unchanged if silent), to mix components at set ratios."""
    rms = float(np.sqrt(np.mean(x**2)))
    return x / rms if rms > 0 else x


def ramp_envelope(num_samples: int, sample_rate: int, attack: float, release: float) -> np.ndarray:
    """Flat envelope with raised-cosine attack and release (seconds)."""
    envelope = np.ones(num_samples)
    for length, reverse in ((attack, False), (release, True)):
        n = min(int(length * sample_rate), num_samples)
        if n > 0:
            ramp = 0.5 - 0.5 * np.cos(np.pi * np.arange(n) / n)
            if reverse:
                envelope[num_samples - n :] *= ramp[::-1]
            else:
                envelope[:n] *= ramp
    return envelope


def cadence(
    rng: np.random.Generator, num_samples: int, sample_rate: int, on: tuple[float, float], off: tuple[float, float]
) -> list[tuple[int, int]]:
    """Random on/off pattern: `(start, stop)` sample ranges of the "on" segments.

    `on` and `off` are (low, high) durations in seconds. The first segment starts
    at a small random offset so instances do not all begin on a beat.
    """
    segments = []
    t = int(rng.uniform(0.0, 0.05) * sample_rate)
    while t < num_samples:
        stop = min(num_samples, t + int(rng.uniform(*on) * sample_rate))
        segments.append((t, stop))
        t = stop + int(rng.uniform(*off) * sample_rate)
    return segments


def place(out: np.ndarray, start: int, unit: np.ndarray) -> None:
    """Add `unit` into `out` at `start`, cut at the end of `out`."""
    stop = min(len(out), start + len(unit))
    if stop > start:
        out[start:stop] += unit[: stop - start]


def impact(rng: np.random.Generator, sample_rate: int, modes_hz: Sequence[float], decay: float, click_hz: float) -> np.ndarray:
    """One hit on a resonant body: decaying modes plus a short low-passed click."""
    n = int(6.0 * decay * sample_rate) + 1
    t = np.arange(n) / sample_rate
    body = sum(
        np.exp(-t * (1.0 + k) / decay) * np.sin(2.0 * np.pi * f * t + rng.uniform(0, 2 * np.pi)) for k, f in enumerate(modes_hz)
    )
    click_n = int(0.008 * sample_rate)
    click = filtered_noise(rng, click_n, sample_rate, None, click_hz) * np.exp(-np.arange(click_n) / (0.002 * sample_rate))
    body[:click_n] += 0.7 * click / (np.abs(click).max() + 1e-12)
    return body


# ----------------------------------------------------------------------------
# Recipes shared by families of classes
# ----------------------------------------------------------------------------


def two_tone(
    rng: np.random.Generator,
    num_samples: int,
    sample_rate: int,
    *,
    base_hz: tuple[float, float],
    ratio: tuple[float, float],
    on: tuple[float, float],
    off: tuple[float, float],
    simultaneous: bool,
    tremolo_hz: tuple[float, float] | None,
    odd_harmonics: int,
) -> np.ndarray:
    """Electronic signals: two tones, alternating (alarm) or together (phone ring)."""
    low = rng.uniform(*base_hz)
    high = low * rng.uniform(*ratio)
    segments = cadence(rng, num_samples, sample_rate, on, off)
    gate = np.zeros(num_samples)
    frequency = np.full(num_samples, low)
    for index, (start, stop) in enumerate(segments):
        gate[start:stop] = ramp_envelope(stop - start, sample_rate, 0.004, 0.004)
        if not simultaneous and index % 2:
            frequency[start:stop] = high
    # Odd harmonics with 1/k amplitudes: the square-ish timbre of buzzers.
    ratios = np.arange(1, 2 * odd_harmonics, 2, dtype=np.float64)
    tone = partials(frequency, ratios, 1.0 / ratios, num_samples, sample_rate)
    if simultaneous:
        tone += partials(high, ratios, 1.0 / ratios, num_samples, sample_rate)
    if tremolo_hz is not None:
        tone *= 0.6 + 0.4 * np.sin(phase(rng.uniform(*tremolo_hz), num_samples, sample_rate))
    return tone * gate


def wail(
    rng: np.random.Generator,
    num_samples: int,
    sample_rate: int,
    *,
    f0_hz: tuple[float, float],
    phrase: tuple[float, float],
    pause: tuple[float, float],
    glide: tuple[float, float],
    vibrato_hz: tuple[float, float],
    vibrato_depth: float,
    formants_hz: Sequence[float],
    tilt_hz: float,
) -> np.ndarray:
    """Sustained voiced phrases with a rise-fall pitch glide and vibrato (cries, screams)."""
    out = np.zeros(num_samples)
    base = rng.uniform(*f0_hz)
    for start, stop in cadence(rng, num_samples, sample_rate, phrase, pause):
        n = stop - start
        u = np.linspace(0.0, 1.0, n)
        # An arch-shaped glide: up to `glide` above the start, peaking mid-phrase.
        contour = 1.0 + rng.uniform(*glide) * np.sin(np.pi * u ** rng.uniform(0.6, 1.4))
        vibrato = 1.0 + vibrato_depth * np.sin(phase(rng.uniform(*vibrato_hz), n, sample_rate))
        f0 = base * rng.uniform(0.9, 1.1) * contour * vibrato
        source = pulse_train(f0, n, sample_rate, tilt_hz)
        formants = np.asarray(formants_hz) * rng.uniform(0.9, 1.1)
        voiced = source + resonators(source, formants, 0.15 * formants, np.ones(len(formants)) * 2.0, sample_rate)
        out[start:stop] += voiced * ramp_envelope(n, sample_rate, 0.06, 0.12)
    return out


# Vowel formants (F1, F2, F3) in Hz of an adult male voice; scaled for other voices.
_VOWELS = np.array([[730, 1090, 2440], [530, 1840, 2480], [270, 2290, 3010], [570, 840, 2410], [300, 870, 2240]], dtype=np.float64)


def speech(
    rng: np.random.Generator, num_samples: int, sample_rate: int, *, f0_hz: tuple[float, float], formant_scale: float
) -> np.ndarray:
    """Words of syllables: a glottal pulse train through vowel formants, syllabic AM, some fricatives."""
    out = np.zeros(num_samples)
    f0 = rng.uniform(*f0_hz)
    for word_start, word_stop in cadence(rng, num_samples, sample_rate, (0.3, 0.9), (0.1, 0.4)):
        t = word_start
        while t < word_stop:
            n = min(int(rng.uniform(0.12, 0.28) * sample_rate), num_samples - t)
            position = t / num_samples
            # Declination: the pitch drifts down over the utterance, with per-syllable accents.
            pitch = f0 * (1.15 - 0.3 * position) * rng.uniform(0.9, 1.12) * np.linspace(1.0, rng.uniform(0.9, 1.08), n)
            source = pulse_train(pitch, n, sample_rate, 300.0)
            formants = _VOWELS[rng.integers(len(_VOWELS))] * formant_scale
            syllable = resonators(source, formants, (80.0, 100.0, 150.0), (1.0, 0.6, 0.3), sample_rate)
            syllable *= np.sin(np.pi * np.arange(n) / n) ** 0.7  # syllabic amplitude modulation
            if rng.random() < 0.3:
                fricative_n = min(int(0.05 * sample_rate), n)
                fricative = filtered_noise(rng, fricative_n, sample_rate, 3500.0, None)
                syllable[:fricative_n] += 0.3 * np.std(syllable) * unit_rms(fricative) * np.hanning(fricative_n)
            place(out, t, syllable)
            t += n
    return out


def impacts(
    rng: np.random.Generator,
    num_samples: int,
    sample_rate: int,
    *,
    period: tuple[float, float],
    group_size: tuple[int, int],
    in_group_interval: tuple[float, float],
    mode_hz: tuple[float, float],
    mode_ratios: Sequence[float],
    decay: tuple[float, float],
    click_hz: float,
) -> np.ndarray:
    """Groups of hits on a resonant body (footsteps: heel-toe pairs; knocking: 2-5 knocks)."""
    out = np.zeros(num_samples)
    fundamental = rng.uniform(*mode_hz)
    modes = fundamental * np.asarray(mode_ratios)
    interval = rng.uniform(*in_group_interval)
    t = rng.uniform(0.0, 0.1)
    while t * sample_rate < num_samples:
        for k in range(rng.integers(group_size[0], group_size[1] + 1)):
            hit = impact(rng, sample_rate, modes * rng.uniform(0.95, 1.05), rng.uniform(*decay), click_hz)
            place(out, int((t + k * interval * rng.uniform(0.9, 1.1)) * sample_rate), hit * rng.uniform(0.5, 1.0))
        t += rng.uniform(*period)
    return out


# ----------------------------------------------------------------------------
# Classes with their own recipe
# ----------------------------------------------------------------------------


def crash(rng: np.random.Generator, num_samples: int, sample_rate: int) -> np.ndarray:
    """A broadband burst with fast decay, then debris hits and metallic ringing thinning out."""
    t = np.arange(num_samples) / sample_rate
    burst = filtered_noise(rng, num_samples, sample_rate, 200.0, None) * np.exp(-t / rng.uniform(0.06, 0.2))
    ring_modes = rng.uniform(1500.0, 6000.0, size=4)
    ringing = partials(ring_modes[0], ring_modes / ring_modes[0], rng.uniform(0.05, 0.2, 4), num_samples, sample_rate)
    out = burst + ringing * np.exp(-t / rng.uniform(0.2, 0.5))
    duration = num_samples / sample_rate
    # Debris: hits whose rate and level fall over the event, so it stays audible to the end.
    for onset in np.sort(rng.uniform(0.0, duration, size=int(6 * duration) + 2)):
        level = 0.5 * np.exp(-2.0 * onset / duration)
        hit = impact(rng, sample_rate, rng.uniform(800.0, 4000.0, 2), rng.uniform(0.01, 0.04), 8000.0)
        place(out, int(onset * sample_rate), level * hit)
    return out


def barking_dog(rng: np.random.Generator, num_samples: int, sample_rate: int) -> np.ndarray:
    """Short harsh barks (falling pitch, formants near 1 and 2.3 kHz) in groups of 1-3."""
    out = np.zeros(num_samples)
    f0 = rng.uniform(350.0, 800.0)
    formants = np.array([rng.uniform(800.0, 1300.0), rng.uniform(2000.0, 2700.0)])
    for group_start, _ in cadence(rng, num_samples, sample_rate, (0.05, 0.05), (0.5, 1.2)):
        t = group_start
        for _ in range(rng.integers(1, 4)):
            n = int(rng.uniform(0.08, 0.22) * sample_rate)
            pitch = f0 * rng.uniform(0.9, 1.1) * np.linspace(1.0, rng.uniform(0.55, 0.75), n)
            # Added noise gives the bark its harsh, rough onset.
            voiced = unit_rms(pulse_train(pitch, n, sample_rate, 1500.0))
            source = voiced + 0.4 * unit_rms(filtered_noise(rng, n, sample_rate, 500.0, None))
            bark = resonators(source, formants, (250.0, 350.0), (1.0, 0.7), sample_rate)
            place(out, t, bark * ramp_envelope(n, sample_rate, 0.01, 0.6 * n / sample_rate))
            t += n + int(rng.uniform(0.12, 0.3) * sample_rate)
    return out


def running_engine(rng: np.random.Generator, num_samples: int, sample_rate: int) -> np.ndarray:
    """Low harmonic series of the firing rate, amplitude-modulated at 20-40 Hz, with rumble."""
    t = np.arange(num_samples) / sample_rate
    firing = rng.uniform(25.0, 60.0) * (1.0 + 0.05 * np.sin(2.0 * np.pi * rng.uniform(0.1, 0.5) * t + rng.uniform(0, 2 * np.pi)))
    harmonics = pulse_train(firing, num_samples, sample_rate, rng.uniform(150.0, 400.0))
    # The engine block and exhaust muffle the upper harmonics more steeply than -6 dB/octave.
    harmonics = signal.sosfilt(butterworth("lowpass", 1000.0, sample_rate), harmonics)
    modulation = 1.0 + rng.uniform(0.4, 0.8) * np.sin(phase(rng.uniform(20.0, 40.0), num_samples, sample_rate))
    rumble = filtered_noise(rng, num_samples, sample_rate, 30.0, 600.0)
    out = unit_rms(harmonics) * modulation + 0.3 * unit_rms(rumble)
    return out * ramp_envelope(num_samples, sample_rate, 0.3, 0.3)


def burning_fire(rng: np.random.Generator, num_samples: int, sample_rate: int) -> np.ndarray:
    """Flickering low-passed roar plus random high-passed crackles (Poisson, log-uniform levels)."""
    t = np.arange(num_samples) / sample_rate
    roar = filtered_noise(rng, num_samples, sample_rate, 40.0, rng.uniform(300.0, 900.0))
    flicker = 1.0 + 0.5 * np.sin(2.0 * np.pi * rng.uniform(0.5, 3.0) * t + rng.uniform(0, 2 * np.pi))
    out = 0.3 * unit_rms(roar) * flicker
    impulses = np.zeros(num_samples)
    count = rng.poisson(rng.uniform(8.0, 30.0) * num_samples / sample_rate)
    impulses[rng.integers(0, num_samples, count)] = rng.choice([-1.0, 1.0], count) * np.exp(rng.uniform(np.log(0.1), 0.0, count))
    kernel_n = int(0.003 * sample_rate)
    kernel = rng.standard_normal(kernel_n) * np.exp(-np.arange(kernel_n) / (0.0007 * sample_rate))
    crackles = signal.sosfilt(butterworth("highpass", 1500.0, sample_rate), np.convolve(impulses, kernel)[:num_samples])
    return out + 3.0 * crackles


def piano(rng: np.random.Generator, num_samples: int, sample_rate: int) -> np.ndarray:
    """A melody of struck notes: stretched (inharmonic) partials decaying faster with order."""
    out = np.zeros(num_samples)
    centre = rng.integers(48, 73)
    inharmonicity = rng.uniform(1e-4, 5e-4)
    orders = np.arange(1, 11, dtype=np.float64)
    ratios = orders * np.sqrt(1.0 + inharmonicity * orders**2)  # stiff-string partials
    t = 0
    while t < num_samples:
        midi = centre + rng.choice([-7, -5, -3, 0, 2, 4, 5, 7, 9, 12])
        f0 = 440.0 * 2.0 ** ((midi - 69) / 12.0)
        decay = rng.uniform(0.4, 1.2)
        step = int(rng.choice([0.15, 0.3, 0.45, 0.6]) * rng.uniform(0.95, 1.05) * sample_rate)
        # The damper stops the note a little after the next key is struck (legato).
        n = min(step + int(rng.uniform(0.05, 0.4) * sample_rate), int(2.5 * decay * sample_rate), num_samples - t)
        time = np.arange(n) / sample_rate
        note = np.zeros(n)
        for order, ratio in zip(orders, ratios):
            if ratio * f0 < 0.45 * sample_rate:
                note += order**-1.2 * np.exp(-time * order**0.7 / decay) * np.sin(2.0 * np.pi * ratio * f0 * time)
        note *= ramp_envelope(n, sample_rate, 0.003, 0.03)
        place(out, t, note * rng.uniform(0.6, 1.0))
        t += step
    return out


# ----------------------------------------------------------------------------
# Registry
# ----------------------------------------------------------------------------

SOUND_GENERATORS: dict[str, SoundGenerator] = {
    "alarm": functools.partial(
        two_tone, base_hz=(600.0, 1200.0), ratio=(1.25, 1.6), on=(0.08, 0.2), off=(0.03, 0.12),
        simultaneous=False, tremolo_hz=None, odd_harmonics=6,
    ),
    "crying_baby": functools.partial(
        wail, f0_hz=(350.0, 500.0), phrase=(0.4, 1.2), pause=(0.15, 0.5), glide=(0.1, 0.25),
        vibrato_hz=(5.0, 9.0), vibrato_depth=0.04, formants_hz=(1100.0, 3000.0), tilt_hz=800.0,
    ),
    "crash": crash,
    "barking_dog": barking_dog,
    "running_engine": running_engine,
    "female_scream": functools.partial(
        wail, f0_hz=(800.0, 1200.0), phrase=(0.6, 2.0), pause=(0.2, 0.6), glide=(0.2, 0.45),
        vibrato_hz=(4.0, 7.0), vibrato_depth=0.015, formants_hz=(1000.0, 2800.0), tilt_hz=2500.0,
    ),
    "female_speech": functools.partial(speech, f0_hz=(180.0, 240.0), formant_scale=1.17),
    "burning_fire": burning_fire,
    "footsteps": functools.partial(
        impacts, period=(0.4, 0.7), group_size=(2, 2), in_group_interval=(0.03, 0.06),
        mode_hz=(60.0, 150.0), mode_ratios=(1.0, 2.7), decay=(0.02, 0.04), click_hz=2500.0,
    ),
    "knocking_on_door": functools.partial(
        impacts, period=(0.8, 1.6), group_size=(2, 5), in_group_interval=(0.1, 0.2),
        mode_hz=(250.0, 700.0), mode_ratios=(1.0, 2.3, 3.9), decay=(0.015, 0.04), click_hz=5000.0,
    ),
    "male_scream": functools.partial(
        wail, f0_hz=(400.0, 700.0), phrase=(0.6, 2.0), pause=(0.2, 0.6), glide=(0.2, 0.45),
        vibrato_hz=(4.0, 7.0), vibrato_depth=0.015, formants_hz=(700.0, 2300.0), tilt_hz=1800.0,
    ),
    "male_speech": functools.partial(speech, f0_hz=(95.0, 130.0), formant_scale=1.0),
    "ringing_phone": functools.partial(
        two_tone, base_hz=(400.0, 900.0), ratio=(1.08, 1.2), on=(0.4, 1.2), off=(0.3, 1.0),
        simultaneous=True, tremolo_hz=(15.0, 25.0), odd_harmonics=3,
    ),
    "piano": piano,
}


def fade_edges(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """`audio` with the 5 ms raised-cosine fade in and out every event gets, so cutting it never clicks."""
    return audio * ramp_envelope(len(audio), sample_rate, _EDGE_FADE_SECONDS, _EDGE_FADE_SECONDS)


def normalize_loudness(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """Scale so that the loudest `_LOUDNESS_WINDOW_SECONDS` window has unit RMS."""
    window = max(1, int(_LOUDNESS_WINDOW_SECONDS * sample_rate))
    usable = len(audio) // window * window
    frames = audio[:usable].reshape(-1, window) if usable else audio[None, :]
    loudest = float(np.sqrt(np.max(np.mean(frames**2, axis=1))))
    return audio / loudest if loudest > 0 else audio


def synthesize_event(class_name: str, duration: float, rng: np.random.Generator, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Synthesise one random instance of `class_name` lasting `duration` seconds.

    Args:
        class_name: one of `CLASS_NAMES` (e.g. "barking_dog").
        duration: length in seconds; the recipe's pattern fills all of it.
        rng: source of every random choice, so a seeded generator gives the
            same samples on every run.
        sample_rate: output rate in Hz.

    Returns:
        float32 mono samples, `round(duration * sample_rate)` long, with 5 ms
        fades at both ends and unit RMS in the loudest 50 ms window.
    """
    if class_name not in SOUND_GENERATORS:
        raise ConfigError(f"unknown sound class {class_name!r}; expected one of {', '.join(CLASS_NAMES)}")
    num_samples = int(round(duration * sample_rate))
    if num_samples < 2 * _EDGE_FADE_SECONDS * sample_rate:
        raise ConfigError(f"event duration must be at least {2 * _EDGE_FADE_SECONDS} s, got {duration} s")
    audio = SOUND_GENERATORS[class_name](rng, num_samples, sample_rate)
    return normalize_loudness(fade_edges(audio, sample_rate), sample_rate).astype(np.float32)
