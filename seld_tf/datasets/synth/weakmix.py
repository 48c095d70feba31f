"""A synthetic stand-in for the 2APAE weak remix: FSDKaggle2018-like events over TAU 2019-like scenes.

`synthesize_weakmix_dataset` writes the two source trees in the real layouts
(spec `apae.md` §6.1, §7), reads them back with the unchanged readers of
`seld_tf.datasets.weak_remix`, and runs that module's mixer (`write_recipe`,
class-stratified folds) into a workspace; `synth_config.json` comes last, so
a folder without it is a generation that was cut short:

    DIR/FSDKaggle2018/train.csv, audio_train/<8 hex>.wav           44.1 kHz mono PCM-16
    DIR/TAU-urban-acoustic-scenes-2019-development/meta.csv, audio/, evaluation_setup/
                                                                   48 kHz stereo PCM-24
    DIR/workspace/dcase2018_task2_validate_meta.csv, mixture.yaml, mixed_audio/snr_<snr>/
    DIR/synth_config.json

Events are the 41 FSDKaggle2018 classes as procedural recipes (`CLASS_RECIPES`,
built on `sounds`); scenes are non-stationary beds (babble, pass-bys, rumble,
hums, clatter, PA chimes, birds, wind) plus distractor transients from
`sounds` classes that are not FSDKaggle2018 classes, so that an event at 0 dB
is often no louder than what surrounds it.

Event k and scene k are pure functions of `(seed, k)` and the drawn pool plan:
the same seed gives byte-identical files, whatever the number of workers.

Example:
    >>> config = WeakmixSynthConfig.preset("cpu", seed=0)
    >>> summary = synthesize_weakmix_dataset("data/weakmix", config)
    >>> read_fsdkaggle2018("data/weakmix/FSDKaggle2018")[0].label
"""

from __future__ import annotations

import csv
import dataclasses
import functools
import os
import time
from collections import Counter
from typing import Any

import numpy as np
from scipy import signal
from tqdm import tqdm

from seld_tf.audio import write_audio
from seld_tf.datasets.synth import sounds
from seld_tf.datasets.synth.common import CONFIG_FILE, db_to_gain, peak_normalized, require_empty, worker_map, write_tsv
from seld_tf.datasets.weak_remix import (
    FSD_LABELS,
    TAU2019_SCENES,
    mixture_dir,
    read_fsdkaggle2018,
    read_tau2019,
    write_recipe,
)
from seld_tf.errors import ConfigError
from seld_tf.fileio import atomic_open, write_json

FSD_DIR = "FSDKaggle2018"
TAU_DIR = "TAU-urban-acoustic-scenes-2019-development"
WORKSPACE_DIR = "workspace"
LAYOUT = "2apae"
EVENT_SAMPLE_RATE = 44100
SCENE_SAMPLE_RATE = 48000
CITIES = ("barcelona", "helsinki", "lisbon", "london", "lyon", "milan", "paris", "prague", "stockholm", "vienna")

# Spec §7.4: one class per recipe family, so the reduced task still spans bands and temporal patterns.
CPU_CLASSES = (
    "Acoustic_guitar", "Applause", "Bark", "Bass_drum", "Glockenspiel", "Hi-hat", "Knock", "Meow", "Telephone",
    "Trumpet",
)  # fmt: skip

# Random streams; distinct tags keep events, scenes, locations and the plan independent.
_EVENT, _SCENE, _LOCATION, _PLAN = range(4)
_PEAK_DBFS = (-12.0, -3.0)


@dataclasses.dataclass(frozen=True)
class WeakmixSynthConfig:
    """Pool sizes and the mixer's settings; `preset` gives "cpu" (spec §7.4) or "paper" (§6.2)."""

    classes: tuple[str, ...] = FSD_LABELS
    verified_per_class: tuple[int, int] = (8, 12)
    # Share of train.csv rows with manually_verified = 0, which the mixer must skip.
    unverified_fraction: float = 0.2
    event_seconds: tuple[float, float] = (0.3, 4.0)
    cities: int = 3
    locations: int = 4
    segments: int = 5
    scene_seconds: float = 4.0
    mixtures_per_fold: int = 150
    sample_rate: int = 16000
    clip_duration: float = 4.0
    onsets: tuple[float, ...] = (0.2, 1.2, 2.2)
    max_event_duration: float = 0.8
    snrs: tuple[int, ...] = (0, 10, 20)
    seed: int = 0

    def __post_init__(self):
        unknown = sorted(set(self.classes) - set(FSD_LABELS))
        if unknown or not self.classes:
            raise ConfigError(f"classes must be FSDKaggle2018 labels, found unknown {unknown}")
        # Stratified folds put a class in every fold only if it has a verified clip per fold.
        if self.verified_per_class[0] < 4:
            raise ConfigError(f"verified_per_class must start at 4 or more (one per fold), got {self.verified_per_class}")
        if not 1 <= self.cities <= len(CITIES):
            raise ConfigError(f"cities must be 1..{len(CITIES)}, got {self.cities}")
        if self.scene_seconds < self.clip_duration:
            raise ConfigError(f"scene_seconds {self.scene_seconds} is shorter than clip_duration {self.clip_duration}")
        if self.num_scenes < 4 * self.mixtures_per_fold:
            raise ConfigError(f"{self.num_scenes} scenes cannot give {4 * self.mixtures_per_fold} mixtures without reuse")

    @property
    def num_scenes(self) -> int:
        return len(TAU2019_SCENES) * self.cities * self.locations * self.segments

    @classmethod
    def preset(cls, size: str, seed: int = 0) -> "WeakmixSynthConfig":
        if size == "cpu":
            # 100 mixtures per fold (spec §7.4 suggests 150-300): 400 scenes keep generation under a minute on 2 cores.
            return cls(classes=CPU_CLASSES, cities=2, mixtures_per_fold=100, seed=seed)
        if size == "paper":
            # 14,400 ten-second scenes as in TAU 2019; ~90 verified clips per class as in FSDKaggle2018.
            return cls(
                verified_per_class=(80, 100), cities=10, locations=12, segments=12, scene_seconds=10.0,
                mixtures_per_fold=2000, sample_rate=32000, clip_duration=10.0, onsets=(0.5, 3.0, 5.5),
                max_event_duration=2.0, seed=seed,
            )  # fmt: skip
        raise ConfigError(f"unknown weakmix size {size!r}; expected cpu or paper")


# ----------------------------------------------------------------------------
# Event recipes: FSDKaggle2018 classes from the procedural families of `sounds`
# ----------------------------------------------------------------------------


def _notes(
    rng: np.random.Generator,
    num_samples: int,
    sample_rate: int,
    *,
    f0_hz: tuple[float, float],
    slope: float,
    even_gain: float,
    attack: float,
    decay: float | None,
    note_seconds: tuple[float, float],
    vibrato: float = 0.0,
    breath: float = 0.0,
) -> np.ndarray:
    """A melody of harmonic notes: amplitudes k^-slope (even ones x `even_gain`), plucked (`decay`) or sustained."""
    out = np.zeros(num_samples)
    base = rng.uniform(*f0_hz)
    t = int(rng.uniform(0.0, 0.05) * sample_rate)
    while t < num_samples:
        n = min(int(rng.uniform(*note_seconds) * sample_rate), num_samples - t)
        f0 = min(base * 2.0 ** (rng.choice([-5, -3, 0, 2, 4, 7]) / 12.0), f0_hz[1])
        frequency = f0 * (1.0 + vibrato * np.sin(sounds.phase(rng.uniform(4.5, 6.5), n, sample_rate)))
        orders = np.arange(1, 13, dtype=np.float64)
        amplitudes = orders**-slope * np.where(orders % 2 == 0, even_gain, 1.0)
        note = sounds.partials(frequency, orders, amplitudes, n, sample_rate)
        if breath:
            note += breath * sounds.unit_rms(sounds.filtered_noise(rng, n, sample_rate, 2.0 * f0, 4.0 * f0)) * np.std(note)
        if decay is None:
            envelope = sounds.ramp_envelope(n, sample_rate, attack, 0.05)
        else:
            envelope = sounds.ramp_envelope(n, sample_rate, attack, 0.01) * np.exp(-np.arange(n) / (decay * sample_rate))
        sounds.place(out, t, note * envelope * rng.uniform(0.6, 1.0))
        t += n
    return out


def _hits(
    rng: np.random.Generator,
    num_samples: int,
    sample_rate: int,
    *,
    period: tuple[float, float],
    group: tuple[int, int],
    interval: tuple[float, float],
    band_hz: tuple[float | None, float | None],
    decay: tuple[float, float],
    modes_hz: tuple[float, float] | None = None,
    mode_ratios: tuple[float, ...] = (1.0, 1.6),
    body: float = 0.0,
) -> np.ndarray:
    """Groups of noise bursts in a band, optionally over a modal body: drums, clicks, claps, shots."""
    out = np.zeros(num_samples)
    t = rng.uniform(0.0, 0.1)
    while t * sample_rate < num_samples:
        for k in range(rng.integers(group[0], group[1] + 1)):
            length = rng.uniform(*decay)
            n = int(6.0 * length * sample_rate) + 1
            hit = sounds.unit_rms(sounds.filtered_noise(rng, n, sample_rate, *band_hz)) * np.exp(-np.arange(n) / (length * sample_rate))
            if modes_hz is not None:
                modes = rng.uniform(*modes_hz) * np.asarray(mode_ratios)
                modal = sounds.impact(rng, sample_rate, modes, 2.0 * length, 2000.0)
                hit = np.pad(hit, (0, max(0, len(modal) - n)))
                hit[: len(modal)] += body * modal
            sounds.place(out, int((t + k * rng.uniform(*interval)) * sample_rate), hit * rng.uniform(0.5, 1.0))
        t += rng.uniform(*period)
    return out


def _scrape(
    rng: np.random.Generator, num_samples: int, sample_rate: int, *, band_hz: tuple[float, float], on: tuple[float, float],
    off: tuple[float, float], roughness_hz: float,
) -> np.ndarray:
    """Friction strokes: band noise gated on/off with a random fast roughness envelope (pen, paper)."""
    noise = sounds.filtered_noise(rng, num_samples, sample_rate, *band_hz)
    rough = np.abs(sounds.filtered_noise(rng, num_samples, sample_rate, None, roughness_hz))
    gate = np.zeros(num_samples)
    for start, stop in sounds.cadence(rng, num_samples, sample_rate, on, off):
        gate[start:stop] = sounds.ramp_envelope(stop - start, sample_rate, 0.02, 0.03)
    return noise * (0.3 + sounds.unit_rms(rough)) * gate


def _voiced(
    rng: np.random.Generator, num_samples: int, sample_rate: int, *, f0_hz: tuple[float, float], formants_hz: tuple[float, ...],
    on: tuple[float, float], off: tuple[float, float], jitter: float, noise: float,
) -> np.ndarray:
    """Bursts of a jittery glottal-like source through formants: laughs, burps, farts, coughs."""
    out = np.zeros(num_samples)
    base = rng.uniform(*f0_hz)
    formants = np.asarray(formants_hz) * rng.uniform(0.9, 1.1)
    for start, stop in sounds.cadence(rng, num_samples, sample_rate, on, off):
        n = stop - start
        # A random walk in pitch is what makes burps and farts rough rather than tonal.
        walk = np.interp(np.arange(n), np.linspace(0, n, 8), rng.normal(0.0, jitter, 8))
        pulses = sounds.unit_rms(sounds.pulse_train(base * np.exp(walk), n, sample_rate, 1000.0))
        source = pulses + noise * sounds.unit_rms(rng.standard_normal(n))
        burst = sounds.resonators(source, formants, 0.2 * formants, np.ones(len(formants)), sample_rate)
        sounds.place(out, start, burst * np.sin(np.pi * np.arange(n) / n) ** 0.5)
    return out


def _microwave(rng: np.random.Generator, num_samples: int, sample_rate: int) -> np.ndarray:
    """Mains hum with harmonics and a fan, ending half the time in three 1-2 kHz beeps."""
    hum = sounds.partials(float(rng.choice([50.0, 60.0])) * 2.0, (1.0, 2.0, 3.0, 4.0), (1.0, 0.5, 0.4, 0.2), num_samples, sample_rate)
    out = sounds.unit_rms(hum) + 0.5 * sounds.unit_rms(sounds.filtered_noise(rng, num_samples, sample_rate, 200.0, 2000.0))
    if rng.random() < 0.5:
        beep_hz, n = rng.uniform(1000.0, 2000.0), int(0.12 * sample_rate)
        beep = 3.0 * np.sin(2.0 * np.pi * beep_hz * np.arange(n) / sample_rate) * sounds.ramp_envelope(n, sample_rate, 0.005, 0.005)
        first = int(rng.uniform(0.0, 0.7) * num_samples)
        for k in range(3):
            sounds.place(out, first + 2 * k * n, beep)
    return out


_impacts = sounds.impacts
# Recipes differ in band (f0, modes, noise band) and temporal pattern (note length,
# hit period, burst cadence): the cues frequency and time attention can use.
# Short (finger snap, hi-hat, scissors) and sparse (gunshot, gong, knock) classes
# leave most of a clip quiet, so average pooling dilutes them.
CLASS_RECIPES: dict[str, sounds.SoundGenerator] = {
    # Harmonic instruments: f0 range, spectral slope, odd/even balance, envelope.
    "Acoustic_guitar": functools.partial(_notes, f0_hz=(82.0, 330.0), slope=1.0, even_gain=1.0, attack=0.003, decay=0.4, note_seconds=(0.15, 0.5)),
    "Cello": functools.partial(_notes, f0_hz=(65.0, 260.0), slope=0.8, even_gain=0.8, attack=0.08, decay=None, note_seconds=(0.4, 1.2), vibrato=0.006),
    "Double_bass": functools.partial(_notes, f0_hz=(41.0, 110.0), slope=1.3, even_gain=1.0, attack=0.01, decay=0.6, note_seconds=(0.3, 0.8)),
    "Clarinet": functools.partial(_notes, f0_hz=(150.0, 600.0), slope=0.9, even_gain=0.08, attack=0.03, decay=None, note_seconds=(0.25, 0.8)),
    "Flute": functools.partial(_notes, f0_hz=(260.0, 1000.0), slope=2.5, even_gain=1.0, attack=0.05, decay=None, note_seconds=(0.2, 0.7), vibrato=0.004, breath=0.3),
    "Oboe": functools.partial(_notes, f0_hz=(230.0, 900.0), slope=0.4, even_gain=0.9, attack=0.02, decay=None, note_seconds=(0.2, 0.6)),
    "Saxophone": functools.partial(_notes, f0_hz=(110.0, 700.0), slope=0.7, even_gain=1.0, attack=0.03, decay=None, note_seconds=(0.15, 0.5), vibrato=0.01, breath=0.15),
    "Trumpet": functools.partial(_notes, f0_hz=(165.0, 950.0), slope=0.3, even_gain=1.0, attack=0.02, decay=None, note_seconds=(0.2, 0.6)),
    "Violin_or_fiddle": functools.partial(_notes, f0_hz=(196.0, 1300.0), slope=0.6, even_gain=0.9, attack=0.06, decay=None, note_seconds=(0.2, 0.8), vibrato=0.012),
    "Harmonica": functools.partial(_notes, f0_hz=(260.0, 1050.0), slope=0.9, even_gain=0.6, attack=0.02, decay=None, note_seconds=(0.1, 0.4), breath=0.2),
    "Electric_piano": sounds.piano,
    # Inharmonic struck bodies: mode ratios, decay, repetition.
    "Chime": functools.partial(_impacts, period=(0.3, 0.8), group_size=(1, 3), in_group_interval=(0.1, 0.25), mode_hz=(800.0, 2000.0), mode_ratios=(1.0, 2.76, 5.40), decay=(0.2, 0.4), click_hz=6000.0),
    "Glockenspiel": functools.partial(_impacts, period=(0.15, 0.4), group_size=(1, 1), in_group_interval=(0.1, 0.1), mode_hz=(1500.0, 4000.0), mode_ratios=(1.0, 2.71, 5.15), decay=(0.15, 0.35), click_hz=8000.0),
    "Gong": functools.partial(_impacts, period=(2.5, 4.0), group_size=(1, 1), in_group_interval=(0.1, 0.1), mode_hz=(90.0, 250.0), mode_ratios=(1.0, 1.48, 2.12, 2.89, 3.61), decay=(1.0, 2.0), click_hz=1500.0),
    "Cowbell": functools.partial(_impacts, period=(0.25, 0.5), group_size=(1, 2), in_group_interval=(0.12, 0.2), mode_hz=(540.0, 850.0), mode_ratios=(1.0, 1.48), decay=(0.05, 0.12), click_hz=5000.0),
    "Keys_jangling": functools.partial(_impacts, period=(0.03, 0.1), group_size=(1, 3), in_group_interval=(0.01, 0.03), mode_hz=(3000.0, 6000.0), mode_ratios=(1.0, 1.71, 2.93), decay=(0.02, 0.06), click_hz=12000.0),
    "Knock": sounds.SOUND_GENERATORS["knocking_on_door"],
    # Band-limited impacts: band, decay and repetition rate per class.
    "Bass_drum": functools.partial(_hits, period=(0.4, 0.8), group=(1, 1), interval=(0.1, 0.1), band_hz=(None, 400.0), decay=(0.04, 0.08), modes_hz=(50.0, 80.0), mode_ratios=(1.0, 1.5), body=2.0),
    "Snare_drum": functools.partial(_hits, period=(0.3, 0.7), group=(1, 2), interval=(0.08, 0.15), band_hz=(1500.0, 10000.0), decay=(0.05, 0.1), modes_hz=(180.0, 240.0), body=0.8),
    "Hi-hat": functools.partial(_hits, period=(0.12, 0.25), group=(1, 1), interval=(0.1, 0.1), band_hz=(7000.0, None), decay=(0.01, 0.05)),
    "Tambourine": functools.partial(_hits, period=(0.2, 0.45), group=(2, 4), interval=(0.03, 0.06), band_hz=(5000.0, None), decay=(0.05, 0.1), modes_hz=(4000.0, 7000.0), mode_ratios=(1.0, 1.33, 1.71), body=0.5),
    "Finger_snapping": functools.partial(_hits, period=(0.5, 1.0), group=(1, 1), interval=(0.1, 0.1), band_hz=(1500.0, 4500.0), decay=(0.005, 0.015)),
    "Gunshot_or_gunfire": functools.partial(_hits, period=(0.8, 2.0), group=(1, 4), interval=(0.08, 0.15), band_hz=(150.0, None), decay=(0.08, 0.25)),
    "Fireworks": functools.partial(_hits, period=(0.5, 1.2), group=(1, 3), interval=(0.05, 0.2), band_hz=(80.0, 2500.0), decay=(0.2, 0.5)),
    "Drawer_open_or_close": functools.partial(_hits, period=(0.8, 1.5), group=(1, 1), interval=(0.1, 0.1), band_hz=(400.0, 3000.0), decay=(0.1, 0.2), modes_hz=(120.0, 250.0), body=1.5),
    "Scissors": functools.partial(_hits, period=(0.3, 0.5), group=(2, 2), interval=(0.08, 0.12), band_hz=(3000.0, 10000.0), decay=(0.005, 0.012)),
    "Computer_keyboard": functools.partial(_hits, period=(0.08, 0.22), group=(1, 3), interval=(0.04, 0.08), band_hz=(1500.0, 6000.0), decay=(0.006, 0.015), modes_hz=(600.0, 1200.0), body=0.3),
    "Applause": functools.partial(_hits, period=(0.008, 0.025), group=(1, 1), interval=(0.01, 0.01), band_hz=(800.0, 6000.0), decay=(0.004, 0.012)),
    "Shatter": sounds.crash,
    "Writing": functools.partial(_scrape, band_hz=(2000.0, 7000.0), on=(0.1, 0.4), off=(0.05, 0.25), roughness_hz=60.0),
    "Tearing": functools.partial(_scrape, band_hz=(500.0, 5000.0), on=(0.3, 0.9), off=(0.2, 0.6), roughness_hz=300.0),
    # Vocal and animal sources: formants, pitch, burst cadence.
    "Bark": sounds.barking_dog,
    "Meow": functools.partial(sounds.wail, f0_hz=(400.0, 650.0), phrase=(0.3, 0.9), pause=(0.2, 0.6), glide=(0.2, 0.5), vibrato_hz=(5.0, 8.0), vibrato_depth=0.02, formants_hz=(900.0, 2500.0), tilt_hz=1500.0),
    "Laughter": functools.partial(_voiced, f0_hz=(180.0, 320.0), formants_hz=(800.0, 1200.0, 2600.0), on=(0.07, 0.14), off=(0.06, 0.14), jitter=0.08, noise=0.6),
    "Cough": functools.partial(_voiced, f0_hz=(120.0, 250.0), formants_hz=(600.0, 1800.0, 3000.0), on=(0.12, 0.25), off=(0.2, 0.8), jitter=0.1, noise=3.0),
    "Burping_or_eructation": functools.partial(_voiced, f0_hz=(60.0, 110.0), formants_hz=(400.0, 1200.0), on=(0.3, 0.8), off=(0.8, 2.0), jitter=0.15, noise=0.3),
    "Fart": functools.partial(_voiced, f0_hz=(50.0, 120.0), formants_hz=(150.0, 400.0), on=(0.15, 0.6), off=(0.5, 1.5), jitter=0.3, noise=0.5),
    # Machines and other sounds.
    "Bus": sounds.running_engine,
    "Microwave_oven": _microwave,
    "Telephone": sounds.SOUND_GENERATORS["ringing_phone"],
    "Squeak": functools.partial(sounds.wail, f0_hz=(1500.0, 3000.0), phrase=(0.05, 0.2), pause=(0.1, 0.5), glide=(0.2, 0.6), vibrato_hz=(10.0, 20.0), vibrato_depth=0.02, formants_hz=(3500.0, 6000.0), tilt_hz=4000.0),
}  # fmt: skip


def synthesize_fsd_event(label: str, num_samples: int, rng: np.random.Generator, sample_rate: int = EVENT_SAMPLE_RATE) -> np.ndarray:
    """One instance of FSDKaggle2018 class `label`: float32 with 5 ms fades, peak at -12 to -3 dBFS."""
    audio = CLASS_RECIPES[label](rng, num_samples, sample_rate)
    audio = sounds.fade_edges(audio, sample_rate)
    return peak_normalized(audio, rng, _PEAK_DBFS)


# ----------------------------------------------------------------------------
# Scenes: non-stationary beds plus distractor transients
# ----------------------------------------------------------------------------


def _drift(rng: np.random.Generator, num_samples: int, sample_rate: int, rate_hz: float, depth_db: float) -> np.ndarray:
    """A random gain wandering over `depth_db` with about `rate_hz` turns a second."""
    knots = int(num_samples / sample_rate * rate_hz) + 2
    return 10.0 ** (np.interp(np.arange(num_samples), np.linspace(0, num_samples, knots), rng.uniform(-depth_db, 0.0, knots)) / 20.0)


def _coloured(rng: np.random.Generator, num_samples: int, tilt: float) -> np.ndarray:
    return sounds.unit_rms(signal.lfilter([1.0], [1.0, -tilt], rng.standard_normal(num_samples)))


def _babble(rng, num_samples, sample_rate):
    """A crowd: speech-band noises, each with its own syllabic gain; too dense to be Laughter or speech."""
    # Shifted copies of one filtered noise are uncorrelated talkers at a quarter of the filtering cost.
    noise = sounds.filtered_noise(rng, num_samples, sample_rate, 200.0, 3000.0)
    shifts = rng.integers(sample_rate // 10, num_samples, 4)
    return sum(np.roll(noise, shift) * _drift(rng, num_samples, sample_rate, 8.0, 25.0) for shift in shifts)


def _passbys(rng, num_samples, sample_rate):
    """Vehicles swelling and fading (Gaussian bumps of 0.5-2 s) over road noise."""
    seconds = num_samples / sample_rate
    t = np.arange(num_samples) / sample_rate
    swell = 0.2 + sum(np.exp(-0.5 * ((t - centre) / rng.uniform(0.5, 2.0)) ** 2) for centre in rng.uniform(-1.0, seconds + 1.0, 1 + rng.poisson(0.4 * seconds)))
    return sounds.filtered_noise(rng, num_samples, sample_rate, 40.0, 1200.0) * swell


def _rumble(rng, num_samples, sample_rate):
    return sounds.filtered_noise(rng, num_samples, sample_rate, 20.0, 150.0) * _drift(rng, num_samples, sample_rate, 1.0, 10.0)


def _whine(rng, num_samples, sample_rate):
    """A tonal hum or a motor whine gliding with load."""
    glide = np.linspace(1.0, rng.uniform(0.8, 1.5), num_samples)
    return sounds.partials(rng.uniform(80.0, 600.0) * glide, (1.0, 2.0, 3.0), (1.0, 0.4, 0.2), num_samples, sample_rate)


_clatter = functools.partial(_impacts, period=(0.5, 1.0), group_size=(2, 2), in_group_interval=(0.08, 0.15), mode_hz=(60.0, 150.0), mode_ratios=(1.0, 2.3), decay=(0.03, 0.07), click_hz=3000.0)  # fmt: skip
# Ding-dong announcements: sparse, loud and tonal, in the band of Chime and Glockenspiel.
_pa_chime = functools.partial(_impacts, period=(3.0, 6.0), group_size=(2, 3), in_group_interval=(0.4, 0.6), mode_hz=(500.0, 900.0), mode_ratios=(1.0, 2.0, 3.0), decay=(0.3, 0.6), click_hz=2000.0)  # fmt: skip
_birds = functools.partial(sounds.wail, f0_hz=(2000.0, 4000.0), phrase=(0.05, 0.15), pause=(0.1, 1.5), glide=(0.2, 0.5), vibrato_hz=(20.0, 40.0), vibrato_depth=0.05, formants_hz=(4000.0, 6000.0), tilt_hz=5000.0)  # fmt: skip


def _wind(rng, num_samples, sample_rate):
    return sounds.filtered_noise(rng, num_samples, sample_rate, 20.0, 500.0) * _drift(rng, num_samples, sample_rate, 0.7, 15.0)


_COMPONENTS = {
    "babble": _babble, "passbys": _passbys, "rumble": _rumble, "whine": _whine, "clatter": _clatter,
    "pa_chime": _pa_chime, "birds": _birds, "wind": _wind,
}  # fmt: skip
# Level in dB of each component over a unit-RMS coloured-noise floor, and that floor's tilt (lfilter pole).
SCENE_RECIPES: dict[str, tuple[float, dict[str, float]]] = {
    "airport": (0.9, {"babble": 0.0, "whine": -12.0, "pa_chime": -3.0}),
    "shopping_mall": (0.8, {"babble": 3.0, "pa_chime": -6.0, "whine": -15.0}),
    "metro_station": (0.95, {"passbys": 0.0, "clatter": -3.0, "pa_chime": -3.0, "babble": -6.0}),
    "street_pedestrian": (0.9, {"babble": 0.0, "passbys": -6.0}),
    "public_square": (0.85, {"babble": -3.0, "passbys": -9.0, "birds": -12.0}),
    "street_traffic": (0.97, {"passbys": 6.0, "rumble": 0.0}),
    "tram": (0.97, {"rumble": 3.0, "clatter": 0.0, "whine": -6.0}),
    "bus": (0.98, {"rumble": 6.0, "passbys": 0.0, "whine": -9.0}),
    "metro": (0.98, {"rumble": 6.0, "clatter": 0.0, "whine": -3.0}),
    "park": (0.7, {"wind": 3.0, "birds": -3.0, "babble": -15.0}),
}
# `sounds` classes outside FSDKaggle2018's vocabulary: loud, event-like, in the events' bands.
DISTRACTORS = ("alarm", "crying_baby", "footsteps", "female_speech", "male_speech", "burning_fire", "female_scream")
_DISTRACTORS_PER_SECOND = (0.5, 1.5)
_DISTRACTOR_SECONDS = (0.2, 1.2)
_DISTRACTOR_DB = (-6.0, 3.0)


def render_scene(scene: str, location_seed: tuple[int, ...], rng: np.random.Generator, num_samples: int, sample_rate: int = SCENE_SAMPLE_RATE) -> np.ndarray:
    """One scene recording, float32 `(num_samples, 2)`: two partly decorrelated channels.

    A location (`location_seed`) fixes the floor's tilt and each component's
    level offset, so its segments sound alike, as recordings of one place do.
    """
    tilt, levels = SCENE_RECIPES[scene]
    place = np.random.default_rng(location_seed)
    tilt = min(0.995, tilt * place.uniform(0.95, 1.02))
    bed = _coloured(rng, num_samples, tilt)
    for name, level in levels.items():
        part = _COMPONENTS[name](rng, num_samples, sample_rate)
        bed += db_to_gain(level + place.uniform(-3.0, 3.0)) * sounds.unit_rms(part)
    bed = sounds.unit_rms(bed) * _drift(rng, num_samples, sample_rate, 0.5, 6.0)
    seconds = num_samples / sample_rate
    for _ in range(rng.poisson(rng.uniform(*_DISTRACTORS_PER_SECOND) * seconds)):
        duration = rng.uniform(*_DISTRACTOR_SECONDS)
        sound = sounds.synthesize_event(str(rng.choice(DISTRACTORS)), duration, rng, sample_rate)
        sounds.place(bed, int(rng.uniform(0.0, seconds) * sample_rate), db_to_gain(rng.uniform(*_DISTRACTOR_DB)) * sound)
    # A binaural pair: the same scene a few samples apart, plus diffuse noise of its own in each ear.
    delay = int(rng.integers(1, 30))
    left = bed + 0.3 * _coloured(rng, num_samples, tilt)
    right = np.concatenate([np.zeros(delay), bed[:-delay]]) + 0.3 * _coloured(rng, num_samples, tilt)
    stereo = np.stack([left, right], axis=1)
    return peak_normalized(stereo, rng, _PEAK_DBFS)


# ----------------------------------------------------------------------------
# Pools and dataset
# ----------------------------------------------------------------------------


def plan_events(config: WeakmixSynthConfig) -> list[tuple[str, str, bool, int]]:
    """train.csv rows `(fname, label, manually_verified, num_samples at 44.1 kHz)`, sorted by name as Kaggle's."""
    rng = np.random.default_rng([config.seed, _PLAN])
    rows = []
    for label in config.classes:
        verified = int(rng.integers(config.verified_per_class[0], config.verified_per_class[1] + 1))
        unverified = int(round(verified * config.unverified_fraction / (1.0 - config.unverified_fraction)))
        rows += [(label, k < verified) for k in range(verified + unverified)]
    names = rng.choice(16**8, size=len(rows), replace=False)
    # Log-uniform, so that most clips are short but a good share outlast the mixer's cap.
    low, high = np.log(config.event_seconds)
    seconds = np.exp(rng.uniform(low, high, len(rows)))
    return sorted(
        (f"{name:08x}.wav", label, verified, int(round(s * EVENT_SAMPLE_RATE)))
        for name, (label, verified), s in zip(names, rows, seconds)
    )


def plan_scenes(config: WeakmixSynthConfig) -> list[tuple[str, str, int, int]]:
    """meta.csv rows `(scene, city, location, segment)`; location ids are unique within a city."""
    return [
        (scene, city, s * config.locations + location, segment)
        for s, scene in enumerate(TAU2019_SCENES)
        for city in CITIES[: config.cities]
        for location in range(config.locations)
        for segment in range(config.segments)
    ]


def _scene_file(scene: str, city: str, location: int, segment: int) -> str:
    return f"audio/{scene}-{city}-{location}-{segment}-a.wav"


def _write_event(root: str, seed: int, index: int, row: tuple[str, str, bool, int]) -> None:
    name, label, _, num_samples = row
    audio = synthesize_fsd_event(label, num_samples, np.random.default_rng([seed, _EVENT, index]))
    write_audio(os.path.join(root, FSD_DIR, "audio_train", name), audio, EVENT_SAMPLE_RATE)


def _write_scene(root: str, seed: int, num_samples: int, index: int, row: tuple[str, str, int, int]) -> None:
    scene, city, location, _ = row
    location_seed = (seed, _LOCATION, TAU2019_SCENES.index(scene), CITIES.index(city), location)
    audio = render_scene(scene, location_seed, np.random.default_rng([seed, _SCENE, index]), num_samples)
    write_audio(os.path.join(root, TAU_DIR, *_scene_file(*row).split("/")), audio, SCENE_SAMPLE_RATE, subtype="PCM_24")


def _write_sources_metadata(root: str, events: list, scenes: list) -> None:
    with atomic_open(os.path.join(root, FSD_DIR, "train.csv"), "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["fname", "label", "manually_verified"])
        writer.writerows((name, label, int(verified)) for name, label, verified, _ in events)
    meta = [(_scene_file(*row), row[0], f"{row[1]}-{row[2]}", "a") for row in scenes]
    write_tsv(os.path.join(root, TAU_DIR), "meta.csv", ("filename", "scene_label", "identifier", "source_label"), meta)
    # TAU splits by location so no place is in both; every third location is held out (about TAU's 68/32 %).
    train = [(row[0], row[1]) for row, (_, _, location, _) in zip(meta, scenes) if location % 3 != 2]
    evaluate = [(row[0], row[1]) for row, (_, _, location, _) in zip(meta, scenes) if location % 3 == 2]
    setup = os.path.join(root, TAU_DIR, "evaluation_setup")
    write_tsv(setup, "fold1_train.csv", ("filename", "scene_label"), train)
    write_tsv(setup, "fold1_evaluate.csv", ("filename", "scene_label"), evaluate)
    write_tsv(setup, "fold1_test.csv", ("filename",), [(name,) for name, _ in evaluate])


def synthesize_weakmix_dataset(
    out_dir: str | os.PathLike, config: WeakmixSynthConfig, *, workers: int | None = None, progress: bool = True
) -> dict[str, Any]:
    """Write both source trees and the mixed workspace under `out_dir`, which must be empty or absent.

    A non-empty folder is refused: mixtures of an earlier, larger run would
    stay beside the new ones in the SNR folders.

    Args:
        workers: processes rendering sources (default: the CPU count); the
            files do not depend on it. The mixer runs in this process.

    Returns:
        Summary: paths, pool sizes, verified clips per class and per fold,
        mixtures per SNR, and `source_time_s` / `mix_time_s` / `wall_time_s`.
    """
    root = os.fspath(out_dir)
    require_empty(root, "weakmix")
    started = time.perf_counter()
    events, scenes = plan_events(config), plan_scenes(config)
    scene_samples = int(round(config.scene_seconds * SCENE_SAMPLE_RATE))
    jobs = [functools.partial(_write_event, root, config.seed, k, row) for k, row in enumerate(events)]
    jobs += [functools.partial(_write_scene, root, config.seed, scene_samples, k, row) for k, row in enumerate(scenes)]
    with worker_map(_call, jobs, workers=workers, chunksize=8) as done:
        for _ in tqdm(done, total=len(jobs), desc="synth weakmix sources", unit="file", disable=not progress):
            pass
    _write_sources_metadata(root, events, scenes)
    sources_done = time.perf_counter()
    fsd = read_fsdkaggle2018(os.path.join(root, FSD_DIR))
    tau = read_tau2019(os.path.join(root, TAU_DIR))
    workspace = os.path.join(root, WORKSPACE_DIR)
    mix_options = {
        name: getattr(config, name)
        for name in ("mixtures_per_fold", "onsets", "max_event_duration", "sample_rate", "clip_duration")
    }
    plan = write_recipe(workspace, fsd, tau, snrs=config.snrs, layout=LAYOUT, stratify=True, **mix_options)
    wall = time.perf_counter() - started
    summary = {
        "out_dir": root,
        "fsdkaggle2018": os.path.join(root, FSD_DIR),
        "tau2019": os.path.join(root, TAU_DIR),
        "workspace": workspace,
        "mixture_dirs": {snr: mixture_dir(workspace, snr, LAYOUT) for snr in config.snrs},
        "events": len(events),
        "verified_per_class": dict(Counter(label for _, label, verified, _ in events if verified)),
        "classes_per_fold": {
            fold: len({event.event_label for mixture in plan if mixture.fold == fold for event in mixture.events})
            for fold in sorted({mixture.fold for mixture in plan})
        },
        "scenes": len(scenes),
        "mixtures_per_snr": len(plan),
        "source_time_s": sources_done - started,
        "mix_time_s": wall - (sources_done - started),
        "wall_time_s": wall,
    }
    write_json(
        os.path.join(root, CONFIG_FILE),
        {
            "generator": __name__,
            **dataclasses.asdict(config),
            "layout": LAYOUT,
            "event_sample_rate": EVENT_SAMPLE_RATE,
            "scene_sample_rate": SCENE_SAMPLE_RATE,
            "scene_recipes": SCENE_RECIPES,
            "distractors": DISTRACTORS,
            "summary": {key: value for key, value in summary.items() if not key.endswith("time_s")},
        },
    )
    return summary


def _call(job) -> None:
    job()
