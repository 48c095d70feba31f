"""Weakly labelled remix of the 2APAE paper: FSDKaggle2018 events over TAU 2019 scenes.

Sources (spec `apae.md` §6.1):

- FSDKaggle2018, either layout. Kaggle: `ROOT/train.csv`
  (`fname,label,manually_verified`) and `ROOT/audio_train/`. Zenodo:
  `ROOT/FSDKaggle2018.meta/train_post_competition.csv`
  (`fname,label,manually_verified,freesound_id,license`),
  `ROOT/FSDKaggle2018.meta/test_post_competition_scoring_clips.csv`
  (`fname,label,usage,freesound_id,license`, read when present) and the
  `FSDKaggle2018.audio_{train,test}/` folders.
- TAU Urban Acoustic Scenes 2019 development: `ROOT/meta.csv` (tab-separated
  `filename scene_label identifier source_label`), `ROOT/audio/` and
  `ROOT/evaluation_setup/fold1_{train,evaluate,test}.csv`.

Recipe (spec §6.2, Kong's `create_mixture_yaml.py` / `create_mixed_audio.py`):
`assign_event_folds` -> `write_event_folds`, `plan_mixtures` ->
`write_mixture_yaml`, then `write_mixtures` for every SNR; `write_recipe` does
all of it in the Kong or 2APAE workspace layout. Real and synthetic source
pools go through the same functions, so only the pools differ.

The readers accept a UTF-8 byte-order mark, CRLF line ends and trailing blank
lines; anything else malformed, and labels outside the dataset's vocabulary,
raise `AnnotationError` naming the file and its 1-based line (header = line 1).
"""

from __future__ import annotations

import csv
import dataclasses
import os
import re
from typing import Iterable, Mapping, Sequence

import librosa
import numpy as np
import yaml

from seld_tf.audio import audio_info, load_audio, write_audio
from seld_tf.datasets.text import read_lines
from seld_tf.errors import AnnotationError, ConfigError, FileError
from seld_tf.fileio import atomic_open

# `config.py` order of Kong's and the 2APAE repositories: the model's output columns.
FSD_LABELS = (
    "Acoustic_guitar", "Applause", "Bark", "Bass_drum", "Burping_or_eructation", "Bus", "Cello", "Chime",
    "Clarinet", "Computer_keyboard", "Cough", "Cowbell", "Double_bass", "Drawer_open_or_close",
    "Electric_piano", "Fart", "Finger_snapping", "Fireworks", "Flute", "Glockenspiel", "Gong",
    "Gunshot_or_gunfire", "Harmonica", "Hi-hat", "Keys_jangling", "Knock", "Laughter", "Meow",
    "Microwave_oven", "Oboe", "Saxophone", "Scissors", "Shatter", "Snare_drum", "Squeak", "Tambourine",
    "Tearing", "Telephone", "Trumpet", "Violin_or_fiddle", "Writing",
)  # fmt: skip
TAU2019_SCENES = (
    "airport", "shopping_mall", "metro_station", "street_pedestrian", "public_square",
    "street_traffic", "tram", "bus", "metro", "park",
)  # fmt: skip

SEED = 1234
NUM_FOLDS = 4
MIXTURES_PER_FOLD = 2000
ONSETS = (0.5, 3.0, 5.5)
MAX_EVENT_DURATION = 2.0
CLIP_DURATION = 10.0
SAMPLE_RATE = 32000
SNRS = (0, 10, 20)
LAYOUTS = ("kong", "2apae")

_KAGGLE_TRAIN = ("fname", "label", "manually_verified")
_ZENODO_TRAIN = ("fname", "label", "manually_verified", "freesound_id", "license")
_ZENODO_TEST = ("fname", "label", "usage", "freesound_id", "license")
_ZENODO_META = "FSDKaggle2018.meta"
_TAU_META = ("filename", "scene_label", "identifier", "source_label")
_FSD_NAME = re.compile(r"[0-9a-f]{8}\.wav")
_TAU_NAME = re.compile(r"audio/([a-z_]+)-([a-z]+)-(\d+)-(\d+)-([a-z])\.wav")
_EVENT_FOLDS_CSV = "dcase2018_task2_validate_meta.csv"


@dataclasses.dataclass(frozen=True)
class FsdClip:
    """One FSDKaggle2018 clip. `split` is "train" or "test"; `usage` is "Public"/"Private" for test clips.

    Test clips are all manually verified (the dataset's README), so `manually_verified` is True for them.
    """

    name: str
    path: str
    label: str
    manually_verified: bool
    split: str
    usage: str | None = None


@dataclasses.dataclass(frozen=True)
class TauClip:
    """One TAU 2019 clip: `name` is the file name without `audio/`, `identifier` is `city-location`."""

    name: str
    path: str
    scene: str
    city: str
    location: int
    identifier: str
    segment: int
    source: str


@dataclasses.dataclass(frozen=True)
class TauSetup:
    """`evaluation_setup/fold{fold}_*.csv`: (name, scene) pairs of train/evaluate, names of test."""

    fold: int
    train: tuple[tuple[str, str], ...]
    evaluate: tuple[tuple[str, str], ...]
    test: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class PlannedEvent:
    event_audio_name: str
    event_label: str
    onset: float
    offset: float


@dataclasses.dataclass(frozen=True)
class Mixture:
    """One entry of `mixture.yaml`."""

    mixture_name: str
    fold: int
    scene_audio_name: str
    events: tuple[PlannedEvent, ...]

    def to_dict(self) -> dict:
        return {
            "events": [dataclasses.asdict(event) for event in self.events],
            "fold": self.fold,
            "mixture_name": self.mixture_name,
            "scene_audio_name": self.scene_audio_name,
        }


def _read_table(path: str, header: tuple[str, ...], delimiter: str) -> list[tuple[int, list[str]]]:
    """The (1-based line, fields) of each row after the exact `header`."""
    lines = read_lines(path)
    shown = repr(delimiter.join(header))
    if not lines:
        raise AnnotationError(path, None, f"is empty; expected the header {shown}")
    rows = []
    for line, content in enumerate(lines, start=1):
        if not content.strip():
            raise AnnotationError(path, line, "blank line inside the table")
        # One physical line per record: none of these files quotes a line break.
        fields = [field.strip() for field in next(csv.reader([content], delimiter=delimiter))]
        if line == 1:
            if tuple(fields) != header:
                raise AnnotationError(path, 1, f"expected the header {shown}, found {content!r}")
            continue
        if len(fields) != len(header):
            raise AnnotationError(path, line, f"expected {len(header)} columns ({shown}), found {len(fields)}")
        rows.append((line, fields))
    return rows


def _unique(path: str, line: int, name: str, seen: dict[str, int]) -> None:
    if name in seen:
        raise AnnotationError(path, line, f"{name!r} is listed again (first on line {seen[name]})")
    seen[name] = line


def read_fsdkaggle2018(root: str | os.PathLike) -> list[FsdClip]:
    """The clips of an FSDKaggle2018 tree in either layout, in CSV row order (train, then test).

    The Kaggle layout (`train.csv`) is used when present, else the Zenodo one.
    Audio files are not opened here: a full tree holds 11,073 of them.

    Raises:
        FileError: neither layout's train CSV exists under `root`.
        AnnotationError: a malformed row, an unknown label, a name not
            `[0-9a-f]{8}.wav`, a repeated name, or `manually_verified` not 0/1.
    """
    root = os.fspath(root)
    kaggle = os.path.join(root, "train.csv")
    zenodo = os.path.join(root, _ZENODO_META, "train_post_competition.csv")
    if os.path.isfile(kaggle):
        return _read_fsd_train(kaggle, _KAGGLE_TRAIN, os.path.join(root, "audio_train"))
    if not os.path.isfile(zenodo):
        raise FileError(root, f"expected an FSDKaggle2018 tree with train.csv or {_ZENODO_META}/, found neither")
    clips = _read_fsd_train(zenodo, _ZENODO_TRAIN, os.path.join(root, "FSDKaggle2018.audio_train"))
    test = os.path.join(root, _ZENODO_META, "test_post_competition_scoring_clips.csv")
    if os.path.isfile(test):
        clips += _read_fsd_test(test, os.path.join(root, "FSDKaggle2018.audio_test"))
    return clips


def _fsd_name_label(path: str, line: int, name: str, label: str, seen: dict[str, int]) -> None:
    if not _FSD_NAME.fullmatch(name):
        raise AnnotationError(path, line, f"fname {name!r} is not 8 lowercase hex digits + '.wav'")
    if label not in FSD_LABELS:
        raise AnnotationError(path, line, f"unknown label {label!r}; expected one of the 41 FSDKaggle2018 labels")
    _unique(path, line, name, seen)


def _read_fsd_train(path: str, header: tuple[str, ...], audio_dir: str) -> list[FsdClip]:
    clips, seen = [], {}
    for line, fields in _read_table(path, header, ","):
        name, label, verified = fields[:3]
        _fsd_name_label(path, line, name, label, seen)
        if verified not in ("0", "1"):
            raise AnnotationError(path, line, f"manually_verified {verified!r} must be 0 or 1")
        clips.append(FsdClip(name, os.path.join(audio_dir, name), label, verified == "1", "train"))
    return clips


def _read_fsd_test(path: str, audio_dir: str) -> list[FsdClip]:
    clips, seen = [], {}
    for line, (name, label, usage, _, _) in _read_table(path, _ZENODO_TEST, ","):
        _fsd_name_label(path, line, name, label, seen)
        if usage not in ("Public", "Private"):
            raise AnnotationError(path, line, f"usage {usage!r} must be Public or Private")
        clips.append(FsdClip(name, os.path.join(audio_dir, name), label, True, "test", usage))
    return clips


def assign_event_folds(
    clips: Sequence[FsdClip], *, seed: int = SEED, num_folds: int = NUM_FOLDS, stratify: bool = False
) -> list[int]:
    """The fold (1..num_folds) of each train clip, in `clips` order.

    Default (Kong): shuffle all row indices once; the row at shuffled position
    n gets fold `n % num_folds + 1`. `stratify=True` does the same within each
    (label, manually_verified) group, so every class with at least
    `num_folds` verified clips has verified clips in every fold (small pools).
    """
    random_state = np.random.RandomState(seed)
    groups = [np.arange(len(clips))]
    if stratify:
        keys = sorted({(clip.label, clip.manually_verified) for clip in clips})
        key_of = [(clip.label, clip.manually_verified) for clip in clips]
        groups = [np.array([i for i, found in enumerate(key_of) if found == key]) for key in keys]
    folds = np.zeros(len(clips), dtype=int)
    for indexes in groups:
        random_state.shuffle(indexes)
        folds[indexes] = np.arange(len(indexes)) % num_folds + 1
    return folds.tolist()


def write_event_folds(path: str | os.PathLike, clips: Sequence[FsdClip], folds: Sequence[int]) -> None:
    """Write Kong's `dcase2018_task2_validate_meta.csv`: pandas index column + fname,label,manually_verified,fold."""
    with atomic_open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["", "fname", "label", "manually_verified", "fold"])
        for index, (clip, fold) in enumerate(zip(clips, folds, strict=True)):
            writer.writerow([index, clip.name, clip.label, int(clip.manually_verified), fold])


def read_tau2019(root: str | os.PathLike) -> list[TauClip]:
    """The clips listed in `ROOT/meta.csv`, in file order.

    Raises:
        AnnotationError: a malformed row; a filename not
            `audio/<scene>-<city>-<location>-<segment>-<source>.wav`; an
            unknown scene; a scene, identifier or source label that disagrees
            with the filename; a repeated filename.
    """
    root = os.fspath(root)
    path = os.path.join(root, "meta.csv")
    clips, seen = [], {}
    for line, (filename, scene, identifier, source) in _read_table(path, _TAU_META, "\t"):
        match = _TAU_NAME.fullmatch(filename)
        if not match:
            raise AnnotationError(
                path, line, f"filename {filename!r} is not audio/<scene>-<city>-<location>-<segment>-<source>.wav"
            )
        name_scene, city, location, segment, name_source = match.groups()
        if scene not in TAU2019_SCENES:
            raise AnnotationError(
                path, line, f"unknown scene_label {scene!r}; expected one of {', '.join(TAU2019_SCENES)}"
            )
        for column, found, expected in (
            ("scene_label", scene, name_scene),
            ("identifier", identifier, f"{city}-{location}"),
            ("source_label", source, name_source),
        ):
            if found != expected:
                raise AnnotationError(path, line, f"{column} {found!r} disagrees with filename {filename!r}")
        _unique(path, line, filename, seen)
        name = filename.split("/")[1]
        clips.append(
            TauClip(name, os.path.join(root, filename), scene, city, int(location), identifier, int(segment), source)
        )
    return clips


def read_tau2019_setup(root: str | os.PathLike, clips: Sequence[TauClip], fold: int = 1) -> TauSetup:
    """Read `evaluation_setup/fold{fold}_{train,evaluate,test}.csv`, checked against `clips` (from `read_tau2019`).

    The mixing recipe does not use it; it is the scene classifier's split.

    Raises:
        AnnotationError: a malformed row, a file not in meta.csv, or a
            scene_label that differs from meta.csv's.
    """
    directory = os.path.join(os.fspath(root), "evaluation_setup")
    scenes = {f"audio/{clip.name}": clip.scene for clip in clips}

    def rows(split: str, header: tuple[str, ...]) -> list[tuple[str, ...]]:
        path = os.path.join(directory, f"fold{fold}_{split}.csv")
        out = []
        for line, fields in _read_table(path, header, "\t"):
            filename = fields[0]
            if filename not in scenes:
                raise AnnotationError(path, line, f"filename {filename!r} is not listed in meta.csv")
            if len(fields) == 2 and fields[1] != scenes[filename]:
                raise AnnotationError(
                    path, line, f"scene_label {fields[1]!r} differs from meta.csv's {scenes[filename]!r}"
                )
            out.append((filename.split("/")[1], *fields[1:]))
        return out

    pair = ("filename", "scene_label")
    return TauSetup(
        fold,
        tuple(rows("train", pair)),
        tuple(rows("evaluate", pair)),
        tuple(name for (name,) in rows("test", ("filename",))),
    )


def _repeat(array: np.ndarray, length: int, random_state: np.random.RandomState, faithful: bool) -> np.ndarray:
    # Kong's `repeat_array` shuffles `array` in place and appends that same object each time,
    # so after concatenation every tile holds the last permutation; `faithful=False` keeps each.
    tiles = []
    for _ in range(length // len(array) + 1):
        random_state.shuffle(array)
        tiles.append(array if faithful else array.copy())
    return np.concatenate(tiles)[:length]


def plan_mixtures(
    events: Sequence[FsdClip],
    scenes: Sequence[TauClip],
    *,
    folds: Sequence[int] | None = None,
    durations: Mapping[str, float] | None = None,
    seed: int = SEED,
    num_folds: int = NUM_FOLDS,
    mixtures_per_fold: int = MIXTURES_PER_FOLD,
    onsets: Sequence[float] = ONSETS,
    max_event_duration: float = MAX_EVENT_DURATION,
    faithful_repeat: bool = True,
) -> list[Mixture]:
    """The mixture list of Kong's `create_mixture_yaml.py` (what `mixture.yaml` holds).

    A fresh `RandomState(seed)` shuffles the scenes once (scene i -> mixture
    i, none reused); then per fold, the verified train events of that fold
    are shuffled and tiled to `mixtures_per_fold * len(onsets)` slots, taken
    `len(onsets)` at a time. Event j starts at `onsets[j]` and ends at
    `onset + min(duration, max_event_duration)`. Mixtures are named
    `{:05d}.wav` consecutively over the folds.

    Args:
        events: FSDKaggle2018 clips; only train clips are used, in order.
        scenes: TAU 2019 clips in meta.csv order.
        folds: fold of each train clip; default `assign_event_folds(train, seed=seed)`.
        durations: seconds per event name; names not in it are read from the audio header.
        faithful_repeat: reproduce the repeated-permutation quirk of `repeat_array`.

    Raises:
        ConfigError: fewer scenes than mixtures, or a fold without verified events.
    """
    train = [clip for clip in events if clip.split == "train"]
    if folds is None:
        folds = assign_event_folds(train, seed=seed, num_folds=num_folds)
    if len(folds) != len(train):
        raise ConfigError(f"folds: expected one per train clip ({len(train)}), found {len(folds)}")
    total = num_folds * mixtures_per_fold
    if len(scenes) < total:
        raise ConfigError(f"expected at least {total} scenes (one per mixture, none reused), found {len(scenes)}")
    durations = dict(durations or {})
    random_state = np.random.RandomState(seed)
    scene_order = np.arange(len(scenes))
    random_state.shuffle(scene_order)
    fold_array = np.asarray(folds)
    verified = np.array([clip.manually_verified for clip in train], dtype=bool)
    per_clip = len(onsets)
    plan = []
    for fold in range(1, num_folds + 1):
        selected = np.flatnonzero((fold_array == fold) & verified)
        if not len(selected):
            raise ConfigError(f"fold {fold} has no manually verified train events")
        slots = _repeat(selected, mixtures_per_fold * per_clip, random_state, faithful_repeat)
        for n in range(mixtures_per_fold):
            planned = []
            for onset, index in zip(onsets, slots[n * per_clip : (n + 1) * per_clip]):
                clip = train[index]
                if clip.name not in durations:
                    durations[clip.name] = audio_info(clip.path).duration
                offset = onset + min(durations[clip.name], max_event_duration)
                planned.append(PlannedEvent(clip.name, clip.label, float(onset), float(offset)))
            index = len(plan)
            plan.append(Mixture(f"{index:05d}.wav", fold, scenes[scene_order[index]].name, tuple(planned)))
    return plan


def write_mixture_yaml(path: str | os.PathLike, plan: Iterable[Mixture]) -> None:
    """Write the plan as Kong's `mixture.yaml`: block style, sorted keys."""
    with atomic_open(path, "w", encoding="utf-8") as handle:
        yaml.safe_dump([item.to_dict() for item in plan], handle, default_flow_style=False, sort_keys=True)


def read_mixture_yaml(path: str | os.PathLike) -> list[Mixture]:
    """Read a `mixture.yaml` (ours or Kong's), checking every entry.

    Raises:
        FileError: unreadable file.
        AnnotationError: not YAML, or an entry without the expected keys and
            types; the row is the entry's first line.
    """
    path = os.fspath(path)
    try:
        with open(path, encoding="utf-8-sig") as handle:
            text = handle.read()
    except OSError as error:
        raise FileError(path, f"cannot be read: {error.strerror}") from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        raise AnnotationError(path, None if mark is None else mark.line + 1, f"is not valid YAML: {error}") from None
    if not isinstance(data, list):
        raise AnnotationError(path, None, "expected a list of mixtures")
    plan = []
    for item_node, item in zip(node.value, data):
        line = item_node.start_mark.line + 1
        try:
            if set(item) != {"events", "fold", "mixture_name", "scene_audio_name"}:
                raise ValueError(f"keys {sorted(item)}")
            events = tuple(
                PlannedEvent(str(e["event_audio_name"]), str(e["event_label"]), float(e["onset"]), float(e["offset"]))
                for e in item["events"]
            )
            mixture = Mixture(str(item["mixture_name"]), int(item["fold"]), str(item["scene_audio_name"]), events)
        except (TypeError, KeyError, ValueError) as error:
            raise AnnotationError(
                path, line, f"expected events (event_audio_name, event_label, onset, offset), fold, "
                f"mixture_name and scene_audio_name; found a bad entry ({error})"
            ) from None
        for event in events:
            if event.event_label not in FSD_LABELS:
                raise AnnotationError(path, line, f"unknown event_label {event.event_label!r}")
            if not 0 <= event.onset <= event.offset:
                raise AnnotationError(path, line, f"expected 0 <= onset <= offset, found {event.onset}, {event.offset}")
        plan.append(mixture)
    return plan


def rms(audio: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(audio, dtype=np.float64))))


def _to_rms(audio: np.ndarray, target: float, what: str) -> np.ndarray:
    level = rms(audio)
    if level == 0:
        raise ValueError(f"{what} is silent; its RMS cannot be set")
    return np.asarray(audio, dtype=np.float64) * (target / level)


def weak_target(mixture: Mixture, labels: Sequence[str] = FSD_LABELS) -> np.ndarray:
    """Multi-hot int32 `(len(labels),)` of the mixture's event labels."""
    target = np.zeros(len(labels), dtype=np.int32)
    for event in mixture.events:
        target[labels.index(event.event_label)] = 1
    return target


def mix(
    mixture: Mixture,
    event_audio: Sequence[np.ndarray],
    scene_audio: np.ndarray,
    snr_db: float,
    sample_rate: int = SAMPLE_RATE,
    *,
    clip_duration: float = CLIP_DURATION,
    labels: Sequence[str] = FSD_LABELS,
) -> tuple[np.ndarray, np.ndarray]:
    """Kong's `create_mixed_audio.py` for one mixture.

    The scene is scaled to RMS 1 and each event to RMS `10**(snr_db/20)`, each
    over its whole mono signal (so the in-clip SNR of an event cut at the cap
    differs; spec Q14). Event j's first `int(offset*sr) - int(onset*sr)`
    samples go at `int(onset*sr)` into a zero track; the `(samples, 2)` array
    (events, scene) is divided by its joint peak.

    Args:
        event_audio: mono signals at `sample_rate`, one per `mixture.events`.
        scene_audio: mono scene at `sample_rate`, at least the clip length
            (longer ones are cut after scaling).

    Returns:
        `(stereo float64 (samples, 2), weak target int32 (len(labels),))`.
    """
    samples = int(sample_rate * clip_duration)
    if len(event_audio) != len(mixture.events):
        raise ValueError(
            f"{mixture.mixture_name}: expected {len(mixture.events)} event signals, found {len(event_audio)}"
        )
    scene = _to_rms(scene_audio, 1.0, f"{mixture.mixture_name}: scene {mixture.scene_audio_name}")
    if len(scene) < samples:
        raise ValueError(f"{mixture.mixture_name}: scene has {len(scene)} samples, the clip needs {samples}")
    events = np.zeros(samples)
    for event, audio in zip(mixture.events, event_audio):
        start, stop = int(event.onset * sample_rate), int(event.offset * sample_rate)
        if stop > samples:
            raise ValueError(f"{mixture.mixture_name}: {event.event_audio_name} ends after the clip")
        scaled = _to_rms(audio, 10.0 ** (snr_db / 20.0), f"{mixture.mixture_name}: event {event.event_audio_name}")
        # The duration was measured at the file's own rate; resampling can leave a sample fewer.
        piece = scaled[: stop - start]
        events[start : start + len(piece)] = piece
    stereo = np.stack([events, scene[:samples]], axis=1)
    return stereo / np.max(np.abs(stereo)), weak_target(mixture, labels)


def load_mono(path: str | os.PathLike, sample_rate: int) -> np.ndarray:
    """Kong's `read_audio`: channel mean, then librosa's default resampler to `sample_rate`."""
    audio, rate = load_audio(path)
    mono = audio.astype(np.float64).mean(axis=1)
    return mono if rate == sample_rate else librosa.resample(mono, orig_sr=rate, target_sr=sample_rate)


def mixture_dir(workspace: str | os.PathLike, snr: float, layout: str = "2apae") -> str:
    """Folder of one SNR's mixtures.

    Kong: `mixed_audios/scene_type=dcase2018_task1,snr={snr}`; 2APAE: `mixed_audio/snr_{snr}`.
    """
    if layout not in LAYOUTS:
        raise ConfigError(f"layout: expected one of {LAYOUTS}, found {layout!r}")
    sub = f"mixed_audios/scene_type=dcase2018_task1,snr={snr}" if layout == "kong" else f"mixed_audio/snr_{snr}"
    return os.path.join(os.fspath(workspace), sub)


def write_mixtures(
    plan: Sequence[Mixture],
    events: Sequence[FsdClip],
    scenes: Sequence[TauClip],
    out_dirs: Mapping[float, str | os.PathLike],
    *,
    sample_rate: int = SAMPLE_RATE,
    clip_duration: float = CLIP_DURATION,
) -> None:
    """Write every mixture once per SNR (`out_dirs` maps SNR in dB -> folder) as 16-bit WAV `mixture_name`.

    Each source is read once per mixture for all SNRs. Each file is written
    atomically, so an interrupted run leaves only whole files.
    """
    event_paths = {clip.name: clip.path for clip in events}
    scene_paths = {clip.name: clip.path for clip in scenes}
    for mixture in plan:
        try:
            scene_path = scene_paths[mixture.scene_audio_name]
            paths = [event_paths[event.event_audio_name] for event in mixture.events]
        except KeyError as error:
            raise ConfigError(f"{mixture.mixture_name}: {error.args[0]!r} is not in the source pools") from None
        scene = load_mono(scene_path, sample_rate)
        event_audio = [load_mono(path, sample_rate) for path in paths]
        for snr, out_dir in out_dirs.items():
            stereo, _ = mix(mixture, event_audio, scene, snr, sample_rate, clip_duration=clip_duration)
            write_audio(os.path.join(out_dir, mixture.mixture_name), stereo, sample_rate)


def write_recipe(
    workspace: str | os.PathLike,
    events: Sequence[FsdClip],
    scenes: Sequence[TauClip],
    *,
    snrs: Sequence[float] = SNRS,
    layout: str = "2apae",
    stratify: bool = False,
    **plan_options,
) -> list[Mixture]:
    """The whole recipe into `workspace`: event folds CSV, `mixture.yaml`, one mixture folder per SNR.

    `plan_options` go to `plan_mixtures` (seed, mixtures_per_fold, onsets, ...);
    `sample_rate` and `clip_duration` among them go to `write_mixtures`.
    """
    workspace = os.fspath(workspace)
    out_dirs = {snr: mixture_dir(workspace, snr, layout) for snr in snrs}
    mix_options = {key: plan_options.pop(key) for key in ("sample_rate", "clip_duration") if key in plan_options}
    train = [clip for clip in events if clip.split == "train"]
    seed = plan_options.get("seed", SEED)
    folds = assign_event_folds(
        train, seed=seed, num_folds=plan_options.get("num_folds", NUM_FOLDS), stratify=stratify
    )
    write_event_folds(os.path.join(workspace, _EVENT_FOLDS_CSV), train, folds)
    plan = plan_mixtures(train, scenes, folds=folds, **plan_options)
    write_mixture_yaml(os.path.join(workspace, "mixture.yaml"), plan)
    write_mixtures(plan, train, scenes, out_dirs, **mix_options)
    return plan
