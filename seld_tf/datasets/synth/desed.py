"""A synthetic stand-in for DESED (DCASE2022 Task 4), in DESED_task's exact tree.

`synthesize_desed_dataset` writes every subset of `seld_tf.datasets.desed.SUBSETS`
(audio folders, TSV paths and headers as `DesedDataset` reads them) as 16 kHz
mono PCM-16 WAVs, then `synth_config.json`, last, so a folder without it is
a generation that was cut short.

Two acoustic domains make the gap between synthetic and real DESED visible:

* "synthetic" (synthetic21_train, synthetic21_validation): dry events on
  stationary pink noise, per-event SNR 6-30 dB, full band, recipe ranges A;
* "real" (weak, unlabel_in_domain, strong_label_real, validation, public):
  every event in a room (exponential-decay RIR, RT60 0.2-0.8 s), brown noise
  with mains hum and low babble, SNR 0-15 dB, a random spectral tilt and a
  6 kHz low-pass (a codec-like channel), recipe ranges B, which only partly
  overlap A (e.g. Dog and Speech pitch).

Clip k of a subset is a pure function of `(seed, subset, k)`: the same seed
gives byte-identical files, whatever the other subsets' sizes.

Example:
    >>> config = DesedSynthConfig.preset("cpu", seed=0)
    >>> summary = synthesize_desed_dataset("data/desed_synth", config)
    >>> DesedDataset("data/desed_synth").clips("validation")[0].events
"""

from __future__ import annotations

import dataclasses
import functools
import math
import os
import string
import time
from typing import Any, Mapping

import numpy as np
from scipy import signal
from tqdm import tqdm

from seld_tf.audio import write_audio
from seld_tf.datasets.desed import CLASS_NAMES, SUBSETS
from seld_tf.datasets.synth import sounds
from seld_tf.datasets.synth.common import (
    CONFIG_FILE,
    class_counts,
    db_to_gain,
    peak_normalized,
    require_empty,
    timing,
    worker_map,
    write_tsv,
)
from seld_tf.errors import ConfigError
from seld_tf.fileio import write_json

SAMPLE_RATE = 16000
CLIP_SECONDS = 10.0

# Clips per subset. "cpu" keeps DESED's ordering (unlabeled > synthetic > weak >
# strong real) at a size a CPU trains on in minutes; "paper" is DCASE2022's.
SIZES = {
    "cpu": {
        "synthetic_train": 240, "weak": 120, "unlabeled": 480, "audioset_strong": 60,
        "validation": 100, "public_eval": 100, "synthetic_validation": 40,
    },
    "paper": {
        "synthetic_train": 10000, "weak": 1578, "unlabeled": 14412, "audioset_strong": 3470,
        "validation": 1168, "public_eval": 692, "synthetic_validation": 2500,
    },
}

# DESED validation event counts per class, the class prior (floored below).
_CLASS_COUNTS = {
    "Alarm_bell_ringing": 420, "Blender": 94, "Cat": 341, "Dishes": 559, "Dog": 570,
    "Electric_shaver_toothbrush": 65, "Frying": 94, "Running_water": 237, "Speech": 1752, "Vacuum_cleaner": 92,
}
_PRIOR_FLOOR = 0.03
# Short classes occur 1-4 times for 0.3-3 s; the others are long, often whole-clip.
_SHORT_CLASSES = frozenset({"Alarm_bell_ringing", "Cat", "Dishes", "Dog", "Speech"})
_SHORT_EVENT_SECONDS = (0.3, 3.0)
_LONG_EVENT_SECONDS = (3.0, 10.0)
_WHOLE_CLIP_PROBABILITY = 0.4
# DESED annotators merge events of a class closer than about this.
_MIN_SAME_CLASS_GAP = 0.2
_PLACEMENT_TRIES = 20
# At most 3 classes per clip and no same-class overlap keep the polyphony <= 3.
_MAX_CLASSES = 3
_PEAK_DBFS = (-10.0, -1.0)
_ID_ALPHABET = string.ascii_letters + string.digits + "-_"


@dataclasses.dataclass(frozen=True)
class Domain:
    """Acoustic conditions of one domain; ranges are (low, high), drawn per clip or event."""

    snr_db: tuple[float, float]
    rt60: tuple[float, float] | None
    direct_to_reverberant_db: tuple[float, float]
    lowpass_hz: float | None
    tilt: tuple[float, float]
    hum_db: tuple[float, float] | None
    babble_db: tuple[float, float] | None


DOMAINS = {
    "synthetic": Domain(
        snr_db=(6.0, 30.0), rt60=None, direct_to_reverberant_db=(0.0, 0.0), lowpass_hz=None, tilt=(0.0, 0.0),
        hum_db=None, babble_db=None,
    ),
    "real": Domain(
        snr_db=(0.0, 15.0), rt60=(0.2, 0.8), direct_to_reverberant_db=(-3.0, 6.0), lowpass_hz=6000.0, tilt=(-0.6, 0.4),
        hum_db=(-20.0, -8.0), babble_db=(-15.0, -6.0),
    ),
}


@dataclasses.dataclass(frozen=True)
class _SubsetRecipe:
    """How a subset's clips are drawn: domain, file naming, and which clips are short or empty."""

    domain: str
    naming: str  # "number" (<n>.wav), "youtube" (Y<id>_<s>_<e>.wav) or "public" (<id>_<s>_<e>.wav)
    short_every: int | None = None
    short_seconds: tuple[float, float] = (CLIP_SECONDS, CLIP_SECONDS)
    empty_every: int | None = None


# Short and empty clips go by index (k % every == every - 1, k % every == every // 2)
# so their counts are exact: 5 % of weak clips are 4-9 s, 10 % of validation
# clips are 5-9.5 s and 2 % of validation files have no events, as in DESED.
_RECIPES = {
    "synthetic_train": _SubsetRecipe("synthetic", "number"),
    "weak": _SubsetRecipe("real", "youtube", short_every=20, short_seconds=(4.0, 9.0)),
    "unlabeled": _SubsetRecipe("real", "youtube"),
    "audioset_strong": _SubsetRecipe("real", "youtube"),
    "validation": _SubsetRecipe("real", "youtube", short_every=10, short_seconds=(5.0, 9.5), empty_every=50),
    "public_eval": _SubsetRecipe("real", "public"),
    "synthetic_validation": _SubsetRecipe("synthetic", "number"),
}


@dataclasses.dataclass(frozen=True)
class DesedSynthConfig:
    """What to generate: `sizes` maps subset names of `SUBSETS` to clip counts (0 leaves a subset out)."""

    sizes: Mapping[str, int]
    seed: int = 0

    def __post_init__(self):
        unknown = sorted(set(self.sizes) - set(SUBSETS))
        if unknown:
            raise ConfigError(f"unknown DESED subsets {unknown}; expected some of {list(SUBSETS)}")
        if any(not isinstance(n, int) or n < 0 for n in self.sizes.values()):
            raise ConfigError(f"subset sizes must be whole numbers >= 0, got {dict(self.sizes)}")
        if not any(self.sizes.values()):
            raise ConfigError("at least one subset must have clips")

    @classmethod
    def preset(cls, size: str, seed: int = 0) -> "DesedSynthConfig":
        """The "cpu" or "paper" sizes of `SIZES`."""
        if size not in SIZES:
            raise ConfigError(f"unknown DESED size {size!r}; expected one of {', '.join(SIZES)}")
        return cls(sizes=dict(SIZES[size]), seed=seed)


@dataclasses.dataclass(frozen=True)
class DesedClipSpec:
    """A drawn clip: file name, duration (seconds), and its events `(onset, offset, label)` at 1 ms."""

    name: str
    duration: float
    events: tuple[tuple[float, float, str], ...]

    @property
    def labels(self) -> frozenset[str]:
        return frozenset(label for _, _, label in self.events)


# ----------------------------------------------------------------------------
# Sounds: DESED classes from the procedural families of `sounds`
# ----------------------------------------------------------------------------


def _rescaled(generator: sounds.SoundGenerator, factor: float) -> sounds.SoundGenerator:
    """`generator` played `factor` times faster: every frequency up, every rhythm shorter, by `factor`.

    Running it at rate / factor keeps its partials below the real Nyquist.
    """

    def generate(rng: np.random.Generator, num_samples: int, sample_rate: int) -> np.ndarray:
        return generator(rng, num_samples, int(round(sample_rate / factor)))

    return generate


def _motor(
    rng: np.random.Generator, num_samples: int, sample_rate: int, *, f0_hz: tuple[float, float], sweep: tuple[float, float]
) -> np.ndarray:
    """Blender: motor harmonics whose pitch sweeps as the load changes, plus whooshing noise."""
    f0 = rng.uniform(*f0_hz) * np.linspace(1.0, rng.uniform(*sweep), num_samples)
    harmonics = sounds.pulse_train(f0, num_samples, sample_rate, 1200.0)
    churn = sounds.filtered_noise(rng, num_samples, sample_rate, 300.0, 5000.0)
    churn *= 1.0 + 0.5 * np.sin(sounds.phase(rng.uniform(2.0, 6.0), num_samples, sample_rate))
    return sounds.unit_rms(harmonics) + 0.6 * sounds.unit_rms(churn)


def _buzz(
    rng: np.random.Generator, num_samples: int, sample_rate: int, *, f0_hz: tuple[float, float], hiss_hz: float
) -> np.ndarray:
    """Electric shaver / toothbrush: a bright buzz pulse train, brushing-stroke AM, high-passed hiss."""
    buzz = sounds.pulse_train(rng.uniform(*f0_hz), num_samples, sample_rate, 4000.0)
    hiss = sounds.filtered_noise(rng, num_samples, sample_rate, hiss_hz, None)
    strokes = 1.0 + rng.uniform(0.2, 0.6) * np.sin(sounds.phase(rng.uniform(2.0, 5.0), num_samples, sample_rate))
    return (sounds.unit_rms(buzz) + 0.4 * sounds.unit_rms(hiss)) * strokes


def _frying(rng: np.random.Generator, num_samples: int, sample_rate: int, *, highpass_hz: float) -> np.ndarray:
    """Frying: the crackles of a fire without its roar, over a sizzling hiss."""
    crackles = signal.sosfilt(sounds.butterworth("highpass", highpass_hz, sample_rate), sounds.burning_fire(rng, num_samples, sample_rate))
    sizzle = sounds.filtered_noise(rng, num_samples, sample_rate, 2.0 * highpass_hz, None)
    return sounds.unit_rms(crackles) + 0.3 * sounds.unit_rms(sizzle)


def _water(
    rng: np.random.Generator, num_samples: int, sample_rate: int, *, band_hz: tuple[float, float], bubble_hz: tuple[float, float]
) -> np.ndarray:
    """Running water: band noise with a slow swell, plus bubbles (decaying upward-gliding tones)."""
    flow = sounds.filtered_noise(rng, num_samples, sample_rate, band_hz[0], band_hz[1])
    flow = sounds.unit_rms(flow) * (1.0 + 0.4 * np.sin(sounds.phase(rng.uniform(0.3, 2.0), num_samples, sample_rate)))
    bubbles = np.zeros(num_samples)
    for _ in range(rng.poisson(rng.uniform(5.0, 20.0) * num_samples / sample_rate)):
        n = int(rng.uniform(0.01, 0.04) * sample_rate)
        t = np.arange(n) / sample_rate
        # A bubble's resonance rises as it nears the surface.
        frequency = rng.uniform(*bubble_hz) * (1.0 + 4.0 * t)
        bubble = np.sin(2.0 * np.pi * np.cumsum(frequency) / sample_rate) * np.exp(-t / (0.3 * n / sample_rate))
        sounds.place(bubbles, int(rng.integers(num_samples)), rng.uniform(0.3, 1.0) * bubble)
    return flow + 1.5 * bubbles


def _vacuum(rng: np.random.Generator, num_samples: int, sample_rate: int, *, motor_hz: tuple[float, float]) -> np.ndarray:
    """Vacuum cleaner: loud broadband airflow plus the motor's spectral lines."""
    air = sounds.filtered_noise(rng, num_samples, sample_rate, 150.0, 7000.0)
    motor = rng.uniform(*motor_hz)
    line = sounds.partials(motor, (1.0, 2.0, 3.0, 5.0), (1.0, 0.5, 0.3, 0.2), num_samples, sample_rate)
    return sounds.unit_rms(air) + 0.5 * sounds.unit_rms(line)


def _speaker(rng: np.random.Generator, num_samples: int, sample_rate: int, *, male_hz, female_hz) -> np.ndarray:
    """Speech: a male or a female voice, half the time each."""
    if rng.random() < 0.5:
        return sounds.speech(rng, num_samples, sample_rate, f0_hz=male_hz, formant_scale=1.0)
    return sounds.speech(rng, num_samples, sample_rate, f0_hz=female_hz, formant_scale=1.17)


def _recipes(shift: float) -> dict[str, sounds.SoundGenerator]:
    """The 10 class recipes; `shift` > 1 moves pitches and resonances up (domain B)."""
    return {
        "Alarm_bell_ringing": functools.partial(
            sounds.two_tone, base_hz=(600.0 * shift, 1200.0 * shift), ratio=(1.2, 1.6), on=(0.08, 0.25),
            off=(0.03, 0.15), simultaneous=False, tremolo_hz=None, odd_harmonics=6,
        ),
        "Blender": functools.partial(_motor, f0_hz=(150.0 * shift, 300.0 * shift), sweep=(0.8, 1.35)),
        "Cat": functools.partial(
            sounds.wail, f0_hz=(400.0 * shift, 650.0 * shift), phrase=(0.3, 0.9), pause=(0.2, 0.6), glide=(0.2, 0.5),
            vibrato_hz=(5.0, 8.0), vibrato_depth=0.02, formants_hz=(900.0 * shift, 2500.0 * shift), tilt_hz=1500.0,
        ),
        "Dishes": functools.partial(
            sounds.impacts, period=(0.25, 0.9), group_size=(1, 3), in_group_interval=(0.05, 0.15),
            mode_hz=(1500.0 * shift, 3000.0 * shift), mode_ratios=(1.0, 1.59, 2.14, 2.65), decay=(0.03, 0.1), click_hz=7000.0,
        ),
        "Dog": _rescaled(sounds.barking_dog, shift),
        "Electric_shaver_toothbrush": functools.partial(_buzz, f0_hz=(60.0 * shift, 140.0 * shift), hiss_hz=2000.0 * shift),
        "Frying": functools.partial(_frying, highpass_hz=1000.0 * shift),
        "Running_water": functools.partial(_water, band_hz=(400.0 * shift, 4000.0), bubble_hz=(500.0 * shift, 1500.0 * shift)),
        "Speech": functools.partial(_speaker, male_hz=(95.0 * shift, 130.0 * shift), female_hz=(180.0 * shift, 240.0 * shift)),
        "Vacuum_cleaner": functools.partial(_vacuum, motor_hz=(150.0 * shift, 250.0 * shift)),
    }


# Ranges B sit 30 % above A: a real-domain Dog barks at 455-1040 Hz against
# 350-800 Hz, a real male voice at 124-169 Hz against 95-130 Hz.
_DOMAIN_SHIFT = {"synthetic": 1.0, "real": 1.3}
_CLASS_RECIPES = {domain: _recipes(shift) for domain, shift in _DOMAIN_SHIFT.items()}


def synthesize_desed_event(label: str, duration: float, rng: np.random.Generator, domain: str, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """One dry instance of DESED class `label` in `domain`'s recipe ranges, as `sounds.synthesize_event` makes them.

    Returns float64 samples with 5 ms fades and unit RMS in the loudest 50 ms window.
    """
    num_samples = int(round(duration * sample_rate))
    audio = _CLASS_RECIPES[domain][label](rng, num_samples, sample_rate)
    return sounds.normalize_loudness(sounds.fade_edges(audio, sample_rate), sample_rate)


# ----------------------------------------------------------------------------
# Clips
# ----------------------------------------------------------------------------


def _class_prior() -> np.ndarray:
    counts = np.array([_CLASS_COUNTS[name] for name in CLASS_NAMES], dtype=np.float64)
    prior = np.maximum(counts / counts.sum(), _PRIOR_FLOOR)
    return prior / prior.sum()


_PRIOR = _class_prior()


def _clip_rng(seed: int, subset: str, index: int) -> np.random.Generator:
    return np.random.default_rng([seed, list(SUBSETS).index(subset), index])


def _file_name(rng: np.random.Generator, naming: str, index: int, duration: float) -> str:
    if naming == "number":
        return f"{index}.wav"
    video = "".join(rng.choice(list(_ID_ALPHABET), 11))
    start = 10 * int(rng.integers(0, 60))
    if naming == "youtube":
        return f"Y{video}_{start:.3f}_{start + duration:.3f}.wav"
    return f"{video}_{start}_{start + int(round(duration))}.wav"


def _draw_events(rng: np.random.Generator, duration: float) -> list[tuple[float, float, str]]:
    """1-3 classes from the prior; per class, non-overlapping occurrences with a DESED-like length."""
    classes = rng.choice(len(CLASS_NAMES), size=int(rng.integers(1, _MAX_CLASSES + 1)), replace=False, p=_PRIOR)
    events = []
    for class_index in sorted(classes):
        label = CLASS_NAMES[class_index]
        if label in _SHORT_CLASSES:
            lengths = rng.uniform(*_SHORT_EVENT_SECONDS, size=int(rng.integers(1, 5)))
        elif rng.random() < _WHOLE_CLIP_PROBABILITY:
            lengths = np.array([duration])
        else:
            lengths = np.array([rng.uniform(*_LONG_EVENT_SECONDS)])
        placed: list[tuple[float, float]] = []
        for length in np.minimum(lengths, duration):
            for _ in range(_PLACEMENT_TRIES):
                onset = round(float(rng.uniform(0.0, duration - length)), 3)
                offset = min(round(onset + float(length), 3), duration)
                if all(offset + _MIN_SAME_CLASS_GAP <= start or end + _MIN_SAME_CLASS_GAP <= onset for start, end in placed):
                    placed.append((onset, offset))
                    break
        events += [(onset, offset, label) for onset, offset in placed]
    return sorted(events)


def sample_clip(seed: int, subset: str, index: int) -> tuple[DesedClipSpec, np.random.Generator]:
    """Draw clip `index` of `subset` (name, duration, events) and the generator that renders it."""
    recipe = _RECIPES[subset]
    rng = _clip_rng(seed, subset, index)
    duration = CLIP_SECONDS
    if recipe.short_every and index % recipe.short_every == recipe.short_every - 1:
        # Whole milliseconds, so that the TSV duration is the exact sample count.
        duration = round(float(rng.uniform(*recipe.short_seconds)), 3)
    name = _file_name(rng, recipe.naming, index, duration)
    empty = recipe.empty_every and index % recipe.empty_every == recipe.empty_every // 2
    events = () if empty else tuple(_draw_events(rng, duration))
    return DesedClipSpec(name, duration, events), rng


def _pink_noise(rng: np.random.Generator, num_samples: int) -> np.ndarray:
    # Kellet's -3 dB/octave filter, accurate above ~10 Hz at 16 kHz.
    b = [0.049922035, -0.095993537, 0.050612699, -0.004408786]
    a = [1.0, -2.494956002, 2.017265875, -0.522189400]
    return sounds.unit_rms(signal.lfilter(b, a, rng.standard_normal(num_samples)))


def _real_background(rng: np.random.Generator, num_samples: int, sample_rate: int, domain: Domain) -> np.ndarray:
    """Brown noise (a leaky integrator, so it does not drift), mains hum and low, muffled babble."""
    brown = sounds.unit_rms(signal.lfilter([1.0], [1.0, -0.995], rng.standard_normal(num_samples)))
    mains = float(rng.choice([50.0, 60.0]))
    harmonics = np.arange(1.0, 6.0)
    # One second holds whole cycles of 50 and 60 Hz, so tiling it is seamless and far cheaper.
    second = sounds.partials(mains, harmonics, 1.0 / harmonics, sample_rate, sample_rate)
    hum = sounds.unit_rms(np.tile(second, -(-num_samples // sample_rate))[:num_samples])
    # Babble as speech-shaped noise with syllabic AM: cheap, and not a Speech event.
    babble = sounds.filtered_noise(rng, num_samples, sample_rate, 200.0, 1000.0)
    babble *= 1.0 + 0.7 * np.sin(sounds.phase(rng.uniform(3.0, 6.0), num_samples, sample_rate))
    hum_gain, babble_gain = db_to_gain(rng.uniform(*domain.hum_db)), db_to_gain(rng.uniform(*domain.babble_db))
    out = brown + hum_gain * hum + babble_gain * sounds.unit_rms(babble)
    return sounds.unit_rms(out)


def _room_response(rng: np.random.Generator, sample_rate: int, domain: Domain) -> np.ndarray:
    """Direct path plus an exponentially decaying noise tail (-60 dB at RT60), unit energy."""
    rt60 = rng.uniform(*domain.rt60)
    t = np.arange(int(rt60 * sample_rate)) / sample_rate
    tail = rng.standard_normal(len(t)) * np.exp(-3.0 * math.log(10.0) * t / rt60)
    tail[0] = 0.0
    response = tail / np.sqrt(np.sum(tail**2)) * db_to_gain(-rng.uniform(*domain.direct_to_reverberant_db))
    response[0] = 1.0
    return response / np.sqrt(np.sum(response**2))


def _channel(rng: np.random.Generator, audio: np.ndarray, sample_rate: int, domain: Domain) -> np.ndarray:
    """Codec-like channel: a first-order spectral tilt, then a steep low-pass."""
    audio = signal.lfilter([1.0, rng.uniform(*domain.tilt)], [1.0], audio)
    sos = signal.butter(8, domain.lowpass_hz / (0.5 * sample_rate), "lowpass", output="sos")
    return signal.sosfilt(sos, audio)


def render_clip(spec: DesedClipSpec, rng: np.random.Generator, domain_name: str, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Mix the clip's events over its domain's background: float32 mono, peak at -10 to -1 dBFS.

    Each event's SNR is its loudest-50-ms RMS over the background's RMS.
    """
    domain = DOMAINS[domain_name]
    num_samples = int(round(spec.duration * sample_rate))
    events = np.zeros(num_samples)
    for onset, offset, label in spec.events:
        start = int(round(onset * sample_rate))
        dry = synthesize_desed_event(label, (int(round(offset * sample_rate)) - start) / sample_rate, rng, domain_name, sample_rate)
        sounds.place(events, start, db_to_gain(rng.uniform(*domain.snr_db)) * dry)
    if domain.rt60 is None:
        background = _pink_noise(rng, num_samples)
    else:
        # One room per clip; the reverberant tail runs past the annotated offset, as in a recording.
        events = signal.oaconvolve(events, _room_response(rng, sample_rate, domain))[:num_samples]
        background = _real_background(rng, num_samples, sample_rate, domain)
    mix = events + background
    if domain.lowpass_hz is not None:
        mix = _channel(rng, mix, sample_rate, domain)
    return peak_normalized(mix, rng, _PEAK_DBFS)


# ----------------------------------------------------------------------------
# Dataset
# ----------------------------------------------------------------------------


def _write_clip(root: str, seed: int, subset: str, index: int) -> DesedClipSpec:
    spec, rng = sample_clip(seed, subset, index)
    audio = render_clip(spec, rng, _RECIPES[subset].domain)
    write_audio(os.path.join(root, *SUBSETS[subset].audio.split("/"), spec.name), audio, SAMPLE_RATE)
    return spec


def _write_metadata(root: str, subset: str, specs: list[DesedClipSpec]) -> None:
    layout = SUBSETS[subset]
    if layout.kind == "strong":
        rows = []
        for spec in specs:
            # A row with empty fields is DESED's "this file has no events".
            rows += [(spec.name, f"{on:.3f}", f"{off:.3f}", label) for on, off, label in spec.events] or [(spec.name, "", "", "")]
        write_tsv(root, layout.metadata, ("filename", "onset", "offset", "event_label"), rows)
    elif layout.kind == "weak":
        rows = [(spec.name, ",".join(name for name in CLASS_NAMES if name in spec.labels)) for spec in specs]
        write_tsv(root, layout.metadata, ("filename", "event_labels"), rows)
    else:
        write_tsv(root, layout.metadata, ("filename",), [(spec.name,) for spec in specs])
    if layout.durations:
        write_tsv(root, layout.durations, ("filename", "duration"), [(spec.name, f"{spec.duration:.3f}") for spec in specs])


def synthesize_desed_dataset(
    out_dir: str | os.PathLike, config: DesedSynthConfig, *, workers: int | None = None, progress: bool = True
) -> dict[str, Any]:
    """Write the DESED tree under `out_dir`, which must be empty or absent.

    A non-empty folder is refused because the unlabeled subset is every WAV
    in its folder: leftovers of another run would join it.

    Args:
        workers: processes rendering clips (default: the CPU count); the
            files do not depend on it.

    Returns:
        Summary: `clips` and `events_per_class` per subset, `audio_seconds`,
        `wall_time_s`, `realtime_factor`.
    """
    root = os.fspath(out_dir)
    require_empty(root, "DESED")
    started = time.perf_counter()
    jobs = [(subset, index) for subset in SUBSETS for index in range(config.sizes.get(subset, 0))]
    specs: dict[str, list[DesedClipSpec]] = {subset: [] for subset in SUBSETS if config.sizes.get(subset, 0)}
    write = functools.partial(_write_clip, root, config.seed)
    subsets, indices = zip(*jobs)
    with worker_map(write, subsets, indices, workers=workers, chunksize=8) as written:
        for subset, spec in tqdm(zip(subsets, written), total=len(jobs), desc="synth desed", unit="clip", disable=not progress):
            specs[subset].append(spec)
    for subset, subset_specs in specs.items():
        _write_metadata(root, subset, subset_specs)
    summary = {
        subset: {
            "clips": len(subset_specs),
            "domain": _RECIPES[subset].domain,
            "events_per_class": class_counts(subset_specs),
        }
        for subset, subset_specs in specs.items()
    }
    write_json(
        os.path.join(root, CONFIG_FILE),
        {
            "generator": __name__,
            "seed": config.seed,
            "sizes": dict(config.sizes),
            "sample_rate": SAMPLE_RATE,
            "domains": {name: dataclasses.asdict(domain) for name, domain in DOMAINS.items()},
            "domain_recipe_shift": _DOMAIN_SHIFT,
            "subsets": summary,
        },
    )
    audio_seconds = sum(spec.duration for subset_specs in specs.values() for spec in subset_specs)
    return {"out_dir": root, "subsets": summary, **timing(started, audio_seconds)}
