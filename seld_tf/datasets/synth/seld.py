"""Synthetic spatial sound scenes in the DCASE2020 Task 3 layout.

A dataset written here is read exactly like TAU-NIGENS Spatial Sound Events
2020: `foa_dev/` and/or `mic_dev/` hold 4-channel 24 kHz WAVs named
`fold{F}_room{R}_mix{MMM}_ov{O}.wav`, `metadata_dev/` the matching
`frame,class,track,azimuth,elevation` CSVs on the 100 ms label grid.

Everything is a pure function of `(config, clip index)`: clip k is seeded from
`(seed, k)` and its room from `(seed, room number)`, so clip k is bit-for-bit
the same whatever `num_clips` is and whichever formats are written.

Example:
    >>> config = SeldSynthConfig(num_clips=20, duration=60.0, seed=0)
    >>> summary = synthesize_seld_dataset("data/synth", config, formats=("foa", "mic"))
    >>> # One scene in memory, forcing same-class overlaps:
    >>> clip = synthesize_clip(dataclasses.replace(config, overlaps=(2,), homogeneous_overlap_probability=1.0), 0)
    >>> clip.audio["foa"].shape, len(clip.events)
"""

from __future__ import annotations

import dataclasses
import math
import os
import time
from collections import Counter
from typing import Any, Sequence

import numpy as np
import scipy.fft
from scipy import signal
from tqdm import tqdm

from seld_tf.audio import write_audio
from seld_tf.datasets.dcase2020_seld import CLASS_NAMES, LABEL_FRAME_SECONDS, write_metadata
from seld_tf.datasets.events import EventList, angular_distance, wrap_azimuth
from seld_tf.datasets.synth import rooms
from seld_tf.datasets.synth.common import CONFIG_FILE, timing
from seld_tf.datasets.synth.sounds import synthesize_event
from seld_tf.errors import ConfigError
from seld_tf.fileio import write_json

# Independent random streams: a clip's scene and a room are seeded from
# (seed, stream, index), so adding clips never changes the rooms and vice versa.
_CLIP_STREAM, _ROOM_STREAM = 0, 1
# Attempts at drawing a direction far enough from the overlapping events.
_MAX_PLACEMENT_TRIES = 200


@dataclasses.dataclass(frozen=True)
class SeldSynthConfig:
    """Every parameter of the synthetic SELD dataset.

    Attributes:
        seed: master seed; clip k uses (seed, k), room r uses (seed, r).
        num_clips: number of clips, assigned to `folds` round-robin.
        sample_rate: Hz (DCASE2020: 24000).
        duration: clip length in seconds, a whole number of 100 ms label frames.
        folds: fold numbers written in file names.
        rooms_per_fold: distinct rooms per fold (not shared between folds, so
            test folds are unseen rooms, as in DCASE2020).
        overlaps: maximum polyphony of successive clips within a fold, cycled
            (1: one "voice" of sequential events; 2: two voices).
        event_duration_range: event length, seconds (snapped to label frames).
        gap_range: silence between successive events of one voice, seconds.
        event_level_db_range: random level of each event before propagation, dB.
        azimuth_range: source azimuth range, degrees, [low, high).
        elevation_range: source elevation range, degrees.
        distance_range: source distance from the array, metres (shortened
            when the room is too small in that direction).
        moving_probability: chance that an event moves.
        angular_speeds: azimuthal speeds of moving sources, deg/s, either sign.
        homogeneous_overlap_probability: chance that an event overlapping an
            earlier one takes that event's class (same-class overlap).
        min_overlap_separation: minimum angle, degrees, between events that are
            active in the same frame.
        snr_db: power ratio of the events (omnidirectional channels, active
            frames) to the background noise; None for no noise.
        noise_slope_range: noise spectrum falls as f^-slope; slope drawn per clip.
        room_dimension_ranges: (low, high) metres for length, width, height.
        rt60_range: reverberation time range, seconds, drawn per room.
        max_reflection_order: image-source order of the early reflections.
        late_reverb: add the statistical late reverberation tail.
        peak_dbfs: each clip is scaled so that its largest sample reaches this.
    """

    seed: int = 0
    num_clips: int = 60
    sample_rate: int = 24000
    duration: float = 60.0
    folds: tuple[int, ...] = (1, 2, 3, 4, 5, 6)
    rooms_per_fold: int = 2
    overlaps: tuple[int, ...] = (1, 2)
    event_duration_range: tuple[float, float] = (0.5, 4.0)
    gap_range: tuple[float, float] = (0.2, 2.0)
    event_level_db_range: tuple[float, float] = (-6.0, 0.0)
    azimuth_range: tuple[float, float] = (-180.0, 180.0)
    elevation_range: tuple[float, float] = (-45.0, 45.0)
    distance_range: tuple[float, float] = (1.0, 2.5)
    moving_probability: float = 0.3
    angular_speeds: tuple[float, ...] = (10.0, 20.0, 40.0)
    homogeneous_overlap_probability: float = 0.15
    min_overlap_separation: float = 30.0
    snr_db: float | None = 20.0
    noise_slope_range: tuple[float, float] = (1.0, 2.0)
    room_dimension_ranges: tuple[tuple[float, float], ...] = ((5.0, 10.0), (4.0, 8.0), (2.7, 4.0))
    rt60_range: tuple[float, float] = (0.3, 0.8)
    max_reflection_order: int = 3
    late_reverb: bool = True
    peak_dbfs: float = -1.0

    def __post_init__(self):
        hop = self.sample_rate * LABEL_FRAME_SECONDS
        if not (isinstance(self.sample_rate, int) and self.sample_rate > 0 and hop == int(hop) and int(hop) % 2 == 0):
            raise ConfigError(f"sample_rate must give an even number of samples per 100 ms label frame, got {self.sample_rate}")
        frames = self.duration / LABEL_FRAME_SECONDS
        if not (self.duration > 0 and abs(frames - round(frames)) < 1e-6):
            raise ConfigError(f"duration must be a positive multiple of {LABEL_FRAME_SECONDS} s, got {self.duration}")
        if self.num_clips < 1:
            raise ConfigError(f"num_clips must be >= 1, got {self.num_clips}")
        if not self.folds or any(f < 1 for f in self.folds) or len(set(self.folds)) != len(self.folds):
            raise ConfigError(f"folds must be distinct positive integers, got {self.folds}")
        if self.rooms_per_fold < 1:
            raise ConfigError(f"rooms_per_fold must be >= 1, got {self.rooms_per_fold}")
        if not self.overlaps or not set(self.overlaps) <= {1, 2}:
            raise ConfigError(f"overlaps must be a non-empty sequence of 1 and/or 2, got {self.overlaps}")
        _check_range("event_duration_range", self.event_duration_range, LABEL_FRAME_SECONDS, None)
        _check_range("gap_range", self.gap_range, 0.0, None)
        _check_range("event_level_db_range", self.event_level_db_range, None, None)
        _check_range("azimuth_range", self.azimuth_range, -180.0, 180.0)
        _check_range("elevation_range", self.elevation_range, -90.0, 90.0)
        _check_range("distance_range", self.distance_range, 0.5, None)
        _check_range("noise_slope_range", self.noise_slope_range, 0.0, 3.0)
        _check_range("rt60_range", self.rt60_range, 0.01, None)
        if len(self.room_dimension_ranges) != 3:
            raise ConfigError(f"room_dimension_ranges must hold 3 (low, high) pairs, got {self.room_dimension_ranges}")
        for axis, pair in zip("length width height".split(), self.room_dimension_ranges):
            # 2 m keeps the array (placed at 40-60% of each side) 0.5 m from the walls.
            _check_range(f"room {axis} range", pair, 2.0, None)
        for name in ("moving_probability", "homogeneous_overlap_probability"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ConfigError(f"{name} must be in [0, 1], got {getattr(self, name)}")
        if not self.angular_speeds or any(s <= 0 for s in self.angular_speeds):
            raise ConfigError(f"angular_speeds must be positive deg/s, got {self.angular_speeds}")
        if not 0.0 <= self.min_overlap_separation <= 90.0:
            raise ConfigError(f"min_overlap_separation must be in [0, 90] degrees, got {self.min_overlap_separation}")
        if self.snr_db is not None and not math.isfinite(self.snr_db):
            raise ConfigError(f"snr_db must be finite or None (no noise), got {self.snr_db}")
        if self.max_reflection_order < 0:
            raise ConfigError(f"max_reflection_order must be >= 0, got {self.max_reflection_order}")
        if self.peak_dbfs > 0:
            raise ConfigError(f"peak_dbfs must be <= 0 to avoid clipping, got {self.peak_dbfs}")

    @property
    def num_frames(self) -> int:
        """Label frames per clip (600 for 60 s)."""
        return int(round(self.duration / LABEL_FRAME_SECONDS))

    @property
    def hop(self) -> int:
        """Samples per label frame."""
        return int(round(self.sample_rate * LABEL_FRAME_SECONDS))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict of every field."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "SeldSynthConfig":
        """Inverse of `to_dict` (JSON lists become tuples); unknown keys are an error."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(f"unknown SeldSynthConfig keys {unknown}; expected some of {sorted(known)}")
        return cls(**{key: _to_tuples(value) for key, value in values.items()})


def _to_tuples(value: Any) -> Any:
    return tuple(_to_tuples(v) for v in value) if isinstance(value, (list, tuple)) else value


def _check_range(name: str, pair: Sequence[float], lower: float | None, upper: float | None) -> None:
    """A (low, high) pair with low <= high inside [lower, upper]."""
    if len(pair) != 2 or pair[0] > pair[1]:
        raise ConfigError(f"{name} must be a (low, high) pair with low <= high, got {pair}")
    if (lower is not None and pair[0] < lower) or (upper is not None and pair[1] > upper):
        raise ConfigError(f"{name} must lie within [{lower}, {upper}], got {pair}")


# ----------------------------------------------------------------------------
# Scenes
# ----------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class SceneEvent:
    """One sound event: what, when (label frames), where, and how it moves.

    The source turns around the array at constant distance and elevation:
    azimuth(t) = `azimuth + angular_speed * t`, t in seconds from the onset.
    """

    class_index: int
    track: int
    onset_frame: int
    num_frames: int
    azimuth: float
    elevation: float
    distance: float
    angular_speed: float
    level_db: float
    sound_seed: int

    @property
    def frames(self) -> np.ndarray:
        return np.arange(self.onset_frame, self.onset_frame + self.num_frames)

    def azimuth_at(self, seconds: np.ndarray) -> np.ndarray:
        """Unwrapped azimuth (degrees) at `seconds` after the onset."""
        return self.azimuth + self.angular_speed * np.asarray(seconds, dtype=np.float64)

    def frame_azimuths(self) -> np.ndarray:
        """Unwrapped azimuth at the centre of each of the event's label frames."""
        return self.azimuth_at((np.arange(self.num_frames) + 0.5) * LABEL_FRAME_SECONDS)


@dataclasses.dataclass(frozen=True)
class Scene:
    """A clip before rendering: its place in the dataset, room, events and noise."""

    fold: int
    room_number: int
    mix: int
    overlap: int
    num_frames: int
    room: rooms.Room
    events: tuple[SceneEvent, ...]
    snr_db: float | None
    noise_slope: float
    noise_seed: int

    @property
    def name(self) -> str:
        """File stem in the DCASE2020 naming."""
        return f"fold{self.fold}_room{self.room_number}_mix{self.mix:03d}_ov{self.overlap}"

    def event_list(self) -> EventList:
        """Labels: each event's direct-path DOA per frame, rounded to integer degrees as in TAU-NIGENS."""
        if not self.events:
            return EventList.empty(self.num_frames)
        columns = [
            (
                event.frames,
                np.full(event.num_frames, event.class_index),
                np.full(event.num_frames, event.track),
                wrap_azimuth(np.rint(event.frame_azimuths())),
                np.full(event.num_frames, np.rint(event.elevation)),
            )
            for event in self.events
        ]
        return EventList(*(np.concatenate(parts) for parts in zip(*columns)), num_frames=self.num_frames)


@dataclasses.dataclass(frozen=True)
class SynthClip:
    """One rendered clip: the scene, `[samples, 4]` float32 audio per format, and its labels."""

    scene: Scene
    audio: dict[str, np.ndarray]
    events: EventList


def clip_layout(config: SeldSynthConfig, clip_index: int) -> tuple[int, int, int, int]:
    """`(fold, room_number, mix, overlap)` of clip `clip_index`.

    Clips go to folds round-robin; within a fold the overlap cycles through
    `config.overlaps` and the rooms take whole cycles in turn, so every room
    has every overlap. Room numbers are unique across folds.
    """
    if clip_index < 0:
        raise ConfigError(f"clip_index must be >= 0, got {clip_index}")
    within_fold, fold_position = divmod(clip_index, len(config.folds))
    overlap = config.overlaps[within_fold % len(config.overlaps)]
    room_in_fold = (within_fold // len(config.overlaps)) % config.rooms_per_fold
    room_number = fold_position * config.rooms_per_fold + room_in_fold + 1
    return config.folds[fold_position], room_number, within_fold + 1, overlap


def room_for(config: SeldSynthConfig, room_number: int) -> rooms.Room:
    """The room with this number: drawn from (seed, room number) only."""
    rng = np.random.default_rng([config.seed, _ROOM_STREAM, room_number])
    return rooms.sample_room(rng, config.room_dimension_ranges, config.rt60_range, config.max_reflection_order)


def sample_scene(config: SeldSynthConfig, clip_index: int) -> Scene:
    """Draw the scene of clip `clip_index` (layout, room, events, noise), without rendering it."""
    fold, room_number, mix, overlap = clip_layout(config, clip_index)
    room = room_for(config, room_number)
    rng = np.random.default_rng([config.seed, _CLIP_STREAM, clip_index])
    events: list[SceneEvent] = []
    for track in range(overlap):
        for onset, length in _sample_voice(rng, config):
            events.append(_sample_event(rng, config, room, track, onset, length, events))
    return Scene(
        fold=fold,
        room_number=room_number,
        mix=mix,
        overlap=overlap,
        num_frames=config.num_frames,
        room=room,
        events=tuple(events),
        snr_db=config.snr_db,
        noise_slope=float(rng.uniform(*config.noise_slope_range)),
        noise_seed=int(rng.integers(2**31)),
    )


def _sample_voice(rng: np.random.Generator, config: SeldSynthConfig) -> list[tuple[int, int]]:
    """`(onset frame, frames)` of sequential, non-overlapping events filling one voice.

    Durations are at least one frame: the config allows no range below 100 ms.
    """
    shortest = _to_frames(config.event_duration_range[0])
    intervals = []
    t = _to_frames(rng.uniform(*config.gap_range))
    while t + shortest <= config.num_frames:
        # An event that would run past the end is cut there, like a recording stopping.
        length = min(_to_frames(rng.uniform(*config.event_duration_range)), config.num_frames - t)
        intervals.append((t, length))
        t += length + _to_frames(rng.uniform(*config.gap_range))
    return intervals


def _to_frames(seconds: float) -> int:
    """Seconds snapped to the nearest whole number of label frames."""
    return int(round(seconds / LABEL_FRAME_SECONDS))


def _sample_event(
    rng: np.random.Generator,
    config: SeldSynthConfig,
    room: rooms.Room,
    track: int,
    onset: int,
    length: int,
    placed: Sequence[SceneEvent],
) -> SceneEvent:
    """Class, trajectory, distance and level of one event, given the events already placed."""
    overlapping = [e for e in placed if e.onset_frame < onset + length and onset < e.onset_frame + e.num_frames]
    if overlapping and rng.random() < config.homogeneous_overlap_probability:
        most = max(overlapping, key=lambda e: min(e.onset_frame + e.num_frames, onset + length) - max(e.onset_frame, onset))
        class_index = most.class_index
    else:
        class_index = int(rng.integers(len(CLASS_NAMES)))
    full_circle = config.azimuth_range[1] - config.azimuth_range[0] >= 360.0
    for _ in range(_MAX_PLACEMENT_TRIES):
        moving = rng.random() < config.moving_probability
        speed = float(rng.choice(config.angular_speeds) * rng.choice([-1.0, 1.0])) if moving else 0.0
        candidate = SceneEvent(
            class_index=class_index,
            track=track,
            onset_frame=onset,
            num_frames=length,
            azimuth=float(rng.uniform(*config.azimuth_range)),
            elevation=float(rng.uniform(*config.elevation_range)),
            distance=0.0,
            angular_speed=speed,
            level_db=0.0,
            sound_seed=0,
        )
        azimuths = candidate.frame_azimuths()
        if not full_circle and (azimuths.min() < config.azimuth_range[0] or azimuths.max() >= config.azimuth_range[1]):
            continue
        if all(_separated(candidate, other, config.min_overlap_separation) for other in overlapping):
            break
    else:
        raise ConfigError(
            f"could not place an event {config.min_overlap_separation} degrees from the overlapping ones in "
            f"{_MAX_PLACEMENT_TRIES} tries; widen azimuth_range/elevation_range or lower min_overlap_separation"
        )
    # Along the whole trajectory, including the half-frames the block renderer extends to.
    reach = room.max_distance(candidate.azimuth_at(np.arange(-1, length + 2) * LABEL_FRAME_SECONDS), candidate.elevation)
    return dataclasses.replace(
        candidate,
        distance=float(min(rng.uniform(*config.distance_range), reach)),
        level_db=float(rng.uniform(*config.event_level_db_range)),
        sound_seed=int(rng.integers(2**31)),
    )


def _separated(event: SceneEvent, other: SceneEvent, min_degrees: float) -> bool:
    """Whether the two events are at least `min_degrees` apart in every frame they share."""
    shared = np.intersect1d(event.frames, other.frames)
    if not len(shared):
        return True
    ours = event.frame_azimuths()[shared - event.onset_frame]
    theirs = other.frame_azimuths()[shared - other.onset_frame]
    separation = angular_distance(ours, np.full_like(ours, event.elevation), theirs, np.full_like(theirs, other.elevation))
    return bool(np.all(separation >= min_degrees))


# ----------------------------------------------------------------------------
# Rendering
# ----------------------------------------------------------------------------


def render_scene(scene: Scene, config: SeldSynthConfig, formats: Sequence[str] = ("foa",)) -> dict[str, np.ndarray]:
    """Render `scene` to `[samples, 4]` float32 audio for each format, peak-normalised.

    All formats share the dry sounds and the image sources; each format's
    noise comes from its own stream, so FOA is identical whether or not MIC is
    rendered too.
    """
    formats = _check_formats(formats)
    sr, hop = config.sample_rate, config.hop
    num_samples = scene.num_frames * hop
    centre = np.asarray(scene.room.array_position)
    images_of = rooms.ImageSources(scene.room, sr)
    mixes = {fmt: np.zeros((num_samples, rooms.NUM_CHANNELS), np.float32) for fmt in formats}
    # The late tail does not depend on the source position: convolve it once
    # with the sum of the dry events, each delayed by its direct path.
    dry_bus = np.zeros(num_samples, np.float32)
    for event in scene.events:
        seconds = event.num_frames * LABEL_FRAME_SECONDS
        dry = synthesize_event(CLASS_NAMES[event.class_index], seconds, np.random.default_rng(event.sound_seed), sr)
        dry *= np.float32(10.0 ** (event.level_db / 20.0))
        start = event.onset_frame * hop
        _add(dry_bus, start + int(round(event.distance / rooms.SPEED_OF_SOUND * sr)), dry)
        if event.angular_speed == 0.0:
            images, damping = images_of(scene.room.source_position(event.azimuth, event.elevation, event.distance))
            for fmt in formats:
                rir = rooms.array_response(images, damping, centre, fmt, sr)
                _add(mixes[fmt], start, signal.oaconvolve(dry[:, None], rir, axes=0))
        else:
            _render_moving(event, dry, start, scene.room, images_of, mixes, hop, sr)
    active = _active_samples(scene, hop)
    for fmt, mix in mixes.items():
        if config.late_reverb:
            tail = rooms.late_reverb_tail(scene.room, fmt, sr)
            mix += signal.oaconvolve(dry_bus[:, None], tail, axes=0)[:num_samples]
        if scene.snr_db is not None:
            omni = mix[:, :1] if fmt == "foa" else mix
            signal_power = float(np.mean(omni[active] ** 2)) if active.any() else float(np.mean(omni**2))
            rng = np.random.default_rng([scene.noise_seed, rooms.FORMATS.index(fmt)])
            noise = rooms.diffuse_noise(rng, num_samples, fmt, sr, scene.noise_slope)
            mix += noise * np.float32(np.sqrt(signal_power / 10.0 ** (scene.snr_db / 10.0)))
        peak = float(np.abs(mix).max())
        if peak > 0:
            mix *= np.float32(10.0 ** (config.peak_dbfs / 20.0) / peak)
    return mixes


def _render_moving(
    event: SceneEvent,
    dry: np.ndarray,
    start: int,
    room: rooms.Room,
    images_of: rooms.ImageSources,
    mixes: dict[str, np.ndarray],
    hop: int,
    sample_rate: int,
) -> None:
    """Add a moving event to `mixes`: one RIR per label frame, Hann crossfaded.

    Block j is the dry signal under a periodic Hann window of two frames
    centred on frame j's centre, filtered by the RIR of the source position at
    that instant (the instant its label describes). Windows 50% apart sum to
    one, so a stationary source would be rendered exactly, and a moving one
    glides between positions without clicks. Blocks -1 and num_frames cover
    the half-frames at either end.
    """
    centres = np.arange(-1, event.num_frames + 1) + 0.5  # in frames from the onset
    azimuths = event.azimuth_at(centres * LABEL_FRAME_SECONDS)
    positions = [room.source_position(azimuth, event.elevation, event.distance) for azimuth in azimuths]
    images, damping = map(np.stack, zip(*(images_of(p) for p in positions)))
    window = signal.windows.hann(2 * hop, sym=False).astype(np.float32)
    # Block j (j = -1 ... num_frames) starts (j - 0.5) hops after the onset.
    padded = np.pad(dry, (3 * hop // 2, 3 * hop // 2))
    blocks = np.stack([padded[(j + 1) * hop : (j + 3) * hop] for j in range(-1, event.num_frames + 1)]) * window
    for fmt, mix in mixes.items():
        rirs = rooms.array_response(images, damping, np.asarray(room.array_position), fmt, sample_rate)  # [B, L, 4]
        size = scipy.fft.next_fast_len(blocks.shape[1] + rirs.shape[1] - 1, real=True)
        spectra = scipy.fft.rfft(blocks, size, axis=1)[:, :, None] * scipy.fft.rfft(rirs, size, axis=1)
        filtered = scipy.fft.irfft(spectra, size, axis=1)[:, : blocks.shape[1] + rirs.shape[1] - 1]
        for j, block in enumerate(filtered):
            _add(mix, start + (2 * j - 3) * hop // 2, block)


def _add(out: np.ndarray, start: int, x: np.ndarray) -> None:
    """`out[start:start + len(x)] += x`, cut to the bounds of `out` (start may be negative)."""
    lo, hi = max(start, 0), min(start + len(x), len(out))
    if hi > lo:
        out[lo:hi] += x[lo - start : hi - start]


def _active_samples(scene: Scene, hop: int) -> np.ndarray:
    """Boolean mask of the samples in label frames where some event is active."""
    frames = np.zeros(scene.num_frames, bool)
    for event in scene.events:
        frames[event.frames] = True
    return np.repeat(frames, hop)


def _check_formats(formats: Sequence[str]) -> tuple[str, ...]:
    formats = tuple(formats)
    if not formats or len(set(formats)) != len(formats) or not set(formats) <= set(rooms.FORMATS):
        raise ConfigError(f"formats must be distinct names from {rooms.FORMATS}, got {formats}")
    return formats


def synthesize_clip(config: SeldSynthConfig, clip_index: int, formats: Sequence[str] = ("foa",)) -> SynthClip:
    """Sample and render clip `clip_index` in memory (what the dataset writer writes)."""
    scene = sample_scene(config, clip_index)
    return SynthClip(scene=scene, audio=render_scene(scene, config, formats), events=scene.event_list())


# ----------------------------------------------------------------------------
# Dataset
# ----------------------------------------------------------------------------


def synthesize_seld_dataset(
    out_dir: str | os.PathLike,
    config: SeldSynthConfig = SeldSynthConfig(),
    formats: Sequence[str] = ("foa",),
    progress: bool = True,
) -> dict[str, Any]:
    """Write a DCASE2020-Task-3-style development set under `out_dir`.

    Writes `{fmt}_dev/<name>.wav` (PCM 16-bit) per format, `metadata_dev/<name>.csv`,
    and, last, `synth_config.json` with the config, formats and rooms.

    Returns:
        Summary: `clips`, `formats`, `audio_seconds` (per format),
        `wall_time_s`, `realtime_factor` and `events_per_class` (name -> count).
    """
    formats = _check_formats(formats)
    started = time.perf_counter()
    counts: Counter[str] = Counter()
    used_rooms: dict[int, rooms.Room] = {}
    for clip_index in tqdm(range(config.num_clips), desc="synth seld", unit="clip", disable=not progress):
        clip = synthesize_clip(config, clip_index, formats)
        name = clip.scene.name
        for fmt in formats:
            write_audio(os.path.join(out_dir, f"{fmt}_dev", f"{name}.wav"), clip.audio[fmt], config.sample_rate)
        write_metadata(os.path.join(out_dir, "metadata_dev", f"{name}.csv"), clip.events)
        counts.update(CLASS_NAMES[event.class_index] for event in clip.scene.events)
        used_rooms[clip.scene.room_number] = clip.scene.room
    write_json(
        os.path.join(out_dir, CONFIG_FILE),
        {
            "generator": __name__,
            "config": config.to_dict(),
            "formats": list(formats),
            "rooms": {str(number): dataclasses.asdict(room) for number, room in sorted(used_rooms.items())},
        },
    )
    audio_seconds = config.num_clips * config.duration
    return {
        "out_dir": os.fspath(out_dir),
        "clips": config.num_clips,
        "formats": list(formats),
        "events_per_class": {name: counts[name] for name in CLASS_NAMES},
        **timing(started, audio_seconds, rendered_seconds=audio_seconds * len(formats)),
    }
