"""DCASE2020 Task 3 (TAU-NIGENS Spatial Sound Events 2020) format.

Reads and writes the metadata CSVs (`frame,class,track,azimuth,elevation`,
integers, one row per active event per 100 ms label frame), the baseline's
output CSVs (the same polar form, or `frame,class,track,x,y,z`), the file
naming scheme, and discovers a dataset folder laid out as released
(`foa_dev/`, `mic_dev/`, `metadata_dev/`, and the `_eval` counterparts).
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
from typing import Iterable

import numpy as np

from seld_tf.datasets.events import EventList, cartesian_to_polar, wrap_azimuth
from seld_tf.errors import AnnotationError, ConfigError
from seld_tf.fileio import atomic_open

CLASS_NAMES = (
    "alarm",
    "crying_baby",
    "crash",
    "barking_dog",
    "running_engine",
    "female_scream",
    "female_speech",
    "burning_fire",
    "footsteps",
    "knocking_on_door",
    "male_scream",
    "male_speech",
    "ringing_phone",
    "piano",
)
LABEL_FRAME_SECONDS = 0.1
CLIP_SECONDS = 60
SAMPLE_RATE = 24000
LABEL_FRAMES_PER_CLIP = 600
# Folds of the development set in the challenge's test / validation / training split.
CHALLENGE_SPLIT = {"test": (1,), "validation": (2,), "train": (3, 4, 5, 6)}
ARRAY_FORMATS = ("foa", "mic")
SPLITS = ("dev", "eval")

_DEV_NAME = re.compile(r"fold(\d+)_room(\d+)_mix(\d+)_ov(\d+)")
_EVAL_NAME = re.compile(r"mix(\d+)")
# Column layouts by column count.
_LAYOUTS = {5: "frame,class,track,azimuth,elevation", 6: "frame,class,track,x,y,z"}
# Decimals written to output files: 1e-4 degrees and 1e-6 of a unit vector
# are far below any localisation error that matters.
_DEGREE_DECIMALS = 4
_VECTOR_DECIMALS = 6


@dataclasses.dataclass(frozen=True)
class ClipInfo:
    """What a DCASE2020 file name says. Evaluation files (`mix001`) only carry `mix`."""

    fold: int | None
    room: int | None
    mix: int
    overlap: int | None


@dataclasses.dataclass(frozen=True)
class Clip:
    """One recording of the dataset.

    Attributes:
        name: file stem, e.g. `fold1_room1_mix001_ov1`.
        audio_path: the WAV file.
        metadata_path: its metadata CSV, or None when the split has none.
        split: "dev" or "eval".
        fold, room, mix, overlap: from the file name (`ClipInfo`).
    """

    name: str
    audio_path: str
    metadata_path: str | None
    split: str
    fold: int | None
    room: int | None
    mix: int
    overlap: int | None


def parse_filename(name: str | os.PathLike) -> ClipInfo:
    """Parse `fold{F}_room{R}_mix{MMM}_ov{O}` or `mix{MMM}`, with or without `.wav` / `.csv` and folders.

    Raises:
        AnnotationError: the name follows neither pattern.
    """
    stem = os.path.basename(os.fspath(name))
    root, extension = os.path.splitext(stem)
    if extension.lower() in (".wav", ".csv"):
        stem = root
    if match := _DEV_NAME.fullmatch(stem):
        fold, room, mix, overlap = (int(group) for group in match.groups())
        return ClipInfo(fold=fold, room=room, mix=mix, overlap=overlap)
    if match := _EVAL_NAME.fullmatch(stem):
        return ClipInfo(fold=None, room=None, mix=int(match.group(1)), overlap=None)
    raise AnnotationError(
        name, None, f"expected a DCASE2020 file name like 'fold1_room1_mix001_ov1' or 'mix001', found {stem!r}"
    )


def class_index(name: str) -> int:
    """Index of a DCASE2020 class name; case-insensitive, spaces and underscores alike.

    Raises:
        ConfigError: the name is not one of `CLASS_NAMES`.
    """
    key = re.sub(r"[\s_]+", "_", name.strip().lower())
    if key not in CLASS_NAMES:
        raise ConfigError(f"unknown DCASE2020 class {name!r}; expected one of: {', '.join(CLASS_NAMES)}")
    return CLASS_NAMES.index(key)


def read_metadata(
    path: str | os.PathLike, *, num_classes: int = len(CLASS_NAMES), num_frames: int | None = None
) -> EventList:
    """Read a metadata CSV: `frame,class,track,azimuth,elevation`, integers, no header.

    Args:
        path: the CSV file.
        num_classes: classes are checked to lie in `[0, num_classes)`.
        num_frames: when given, frames are checked to lie in `[0, num_frames)`
            and it becomes the returned list's `num_frames`.

    Raises:
        AnnotationError: naming the file and 1-based row of the first
            malformed or out-of-range row.
    """
    return _read_event_csv(path, column_counts=(5,), angle_type=int, num_classes=num_classes, num_frames=num_frames)


def read_output(
    path: str | os.PathLike,
    *,
    num_classes: int = len(CLASS_NAMES),
    num_frames: int | None = None,
    coordinates: str | None = None,
) -> EventList:
    """Read a system output CSV: polar (`frame,class,track,azimuth,elevation`) or Cartesian (`frame,class,track,x,y,z`).

    Angles and vector components may be floats; Cartesian directions (any
    non-zero length) are converted to polar degrees. Unlike the official
    loader, which silently reads a row of any other length as an empty frame,
    every other column count is an error. `coordinates` ("polar" or
    "cartesian") accepts only that form; None accepts both. Other arguments as
    in `read_metadata`.

    Raises:
        AnnotationError: naming the file and 1-based row of the first
            malformed or out-of-range row.
    """
    column_counts = {None: (5, 6), "polar": (5,), "cartesian": (6,)}
    if coordinates not in column_counts:
        raise ConfigError(f"expected coordinates 'polar', 'cartesian' or None, found {coordinates!r}")
    return _read_event_csv(
        path, column_counts=column_counts[coordinates], angle_type=float, num_classes=num_classes, num_frames=num_frames
    )


def write_metadata(path: str | os.PathLike, events: EventList) -> None:
    """Atomically write a metadata CSV (`frame,class,track,azimuth,elevation`, integers, no header).

    Angles are rounded to whole degrees; an azimuth that rounds to 180 is
    written as -180 so that the file stays inside [-180, 180).
    """
    events = events.sorted()
    azimuth = wrap_azimuth(np.rint(events.azimuth)).astype(np.int64)
    elevation = np.rint(events.elevation).astype(np.int64)
    _write_rows(path, zip(events.frame, events.cls, events.track, azimuth, elevation))


def write_output(path: str | os.PathLike, events: EventList, coordinates: str = "polar") -> None:
    """Atomically write a system output CSV in one of the baseline's two forms.

    Args:
        path: destination CSV.
        events: the rows to write (sorted by frame, track, class on output).
        coordinates: "polar" for `frame,class,track,azimuth,elevation` (degrees,
            4 decimals) or "cartesian" for `frame,class,track,x,y,z` (unit
            vectors, 6 decimals).

    Raises:
        ConfigError: `coordinates` is neither "polar" nor "cartesian".
    """
    events = events.sorted()
    if coordinates == "polar":
        # Round before wrapping so that 179.99999 is written as -180, not 180.
        azimuth = wrap_azimuth(np.round(events.azimuth, _DEGREE_DECIMALS))
        directions, decimals = np.stack([azimuth, events.elevation], axis=-1), _DEGREE_DECIMALS
    elif coordinates == "cartesian":
        directions, decimals = events.unit_vectors(), _VECTOR_DECIMALS
    else:
        raise ConfigError(f"expected coordinates 'polar' or 'cartesian', found {coordinates!r}")
    text = ([f"{value:.{decimals}f}" for value in row] for row in directions)
    _write_rows(path, ((f, c, t, *row) for f, c, t, row in zip(events.frame, events.cls, events.track, text)))


class Dcase2020Dataset:
    """A DCASE2020 Task 3 dataset folder as released.

    Expects `{array_format}_dev/` and/or `{array_format}_eval/` holding the
    WAV files and, for each split that is labelled, `metadata_{split}/`
    holding one CSV per WAV file. The folder is scanned once, on construction.

    Args:
        root: the dataset folder.
        array_format: "foa" (first-order Ambisonics) or "mic" (tetrahedral microphone array).

    Raises:
        ConfigError: `array_format` is unknown, no audio folder exists, a
            metadata folder has no audio folder beside it, or a labelled
            split has an audio file without its CSV or a CSV without its audio file.
        AnnotationError: a file name does not follow the DCASE2020 scheme.
    """

    def __init__(self, root: str | os.PathLike, array_format: str = "foa"):
        if array_format not in ARRAY_FORMATS:
            raise ConfigError(f"expected array_format 'foa' or 'mic', found {array_format!r}")
        self.root = os.fspath(root)
        self.array_format = array_format
        self._clips: dict[str, list[Clip]] = {}
        for split in SPLITS:
            audio_dir = self._audio_dir(split)
            metadata_dir = os.path.join(self.root, f"metadata_{split}")
            if os.path.isdir(audio_dir):
                labelled = os.path.isdir(metadata_dir)
                self._clips[split] = _scan_split(split, audio_dir, metadata_dir if labelled else None)
            elif os.path.isdir(metadata_dir):
                raise ConfigError(f"found metadata folder {metadata_dir}, but its audio folder {audio_dir} is missing")
        if not self._clips:
            expected = " or ".join(self._audio_dir(split) for split in SPLITS)
            raise ConfigError(f"no DCASE2020 audio folder found: expected {expected}")

    @property
    def splits(self) -> tuple[str, ...]:
        """The splits found on disk ("dev", "eval")."""
        return tuple(self._clips)

    def clips(self, split: str | None = None, folds: Iterable[int] | None = None) -> list[Clip]:
        """Clips sorted by name, of one split (or all found) and, when given, of these folds only.

        Evaluation clips have no fold, so `folds` selects development clips only.

        Raises:
            ConfigError: `split` is unknown or its audio folder is missing.
        """
        if split is None:
            clips = [clip for split_clips in self._clips.values() for clip in split_clips]
        elif split not in SPLITS:
            raise ConfigError(f"expected split None, 'dev' or 'eval', found {split!r}")
        elif split not in self._clips:
            raise ConfigError(f"split {split!r} requested, but its audio folder {self._audio_dir(split)} is missing")
        else:
            clips = self._clips[split]
        if folds is not None:
            wanted = set(folds)
            clips = [clip for clip in clips if clip.fold in wanted]
        return sorted(clips, key=lambda clip: clip.name)

    def read_events(self, clip: Clip, num_frames: int | None = None) -> EventList:
        """The clip's metadata as an event list (see `read_metadata`).

        Raises:
            ConfigError: the clip's split has no metadata.
            AnnotationError: the CSV is malformed.
        """
        if clip.metadata_path is None:
            raise ConfigError(f"clip {clip.name} ({clip.split} split) has no metadata CSV")
        return read_metadata(clip.metadata_path, num_frames=num_frames)

    def _audio_dir(self, split: str) -> str:
        return os.path.join(self.root, f"{self.array_format}_{split}")


def _scan_split(split: str, audio_dir: str, metadata_dir: str | None) -> list[Clip]:
    """Pair each WAV file of a split with its metadata CSV."""
    audio = _files_by_stem(audio_dir, ".wav")
    metadata = _files_by_stem(metadata_dir, ".csv") if metadata_dir is not None else {}
    if metadata_dir is not None:
        unlabelled = sorted(audio.keys() - metadata.keys())
        if unlabelled:
            stem = unlabelled[0]
            raise ConfigError(
                f"audio file {audio[stem]} has no metadata CSV {os.path.join(metadata_dir, stem + '.csv')} "
                f"({len(unlabelled)} audio files lack one)"
            )
        orphans = sorted(metadata.keys() - audio.keys())
        if orphans:
            stem = orphans[0]
            raise ConfigError(
                f"metadata CSV {metadata[stem]} has no audio file {os.path.join(audio_dir, stem + '.wav')} "
                f"({len(orphans)} CSVs lack one)"
            )
    clips = []
    for stem, audio_path in audio.items():
        info = parse_filename(audio_path)
        clips.append(Clip(stem, audio_path, metadata.get(stem), split, **dataclasses.asdict(info)))
    return clips


def _files_by_stem(directory: str, extension: str) -> dict[str, str]:
    return {
        os.path.splitext(entry)[0]: os.path.join(directory, entry)
        for entry in os.listdir(directory)
        if entry.lower().endswith(extension)
    }


def _read_event_csv(
    path: str | os.PathLike,
    *,
    column_counts: tuple[int, ...],
    angle_type: type,
    num_classes: int,
    num_frames: int | None,
) -> EventList:
    """Read and validate an event CSV whose rows have one of `column_counts` columns.

    Blank lines are tolerated at the end of the file only: one in the middle
    suggests a damaged or concatenated file.
    """
    try:
        with open(path, encoding="utf-8", newline="") as handle:
            lines = handle.read().splitlines()
    except FileNotFoundError:
        raise AnnotationError(path, None, "expected a CSV file, found no such file") from None
    except UnicodeDecodeError as error:
        raise AnnotationError(path, None, f"expected UTF-8 text, found undecodable bytes ({error.reason})") from None
    rows = []
    first_blank = None
    for row_number, line in enumerate(lines, start=1):
        if not line.strip():
            first_blank = first_blank or row_number
            continue
        if first_blank is not None:
            raise AnnotationError(path, first_blank, "expected a row, found a blank line before the end of the file")
        try:
            row = _parse_row(line, column_counts, angle_type)
            _check_row(*row, num_classes=num_classes, num_frames=num_frames)
        except ValueError as error:
            raise AnnotationError(path, row_number, str(error)) from None
        rows.append(row)
    return EventList.from_rows(rows, num_frames=num_frames)


def _parse_row(line: str, column_counts: tuple[int, ...], angle_type: type) -> tuple[int, int, int, float, float]:
    """`(frame, class, track, azimuth, elevation)` of one CSV line; ValueError saying what is wrong."""
    fields = [value.strip() for value in line.split(",")]
    if len(fields) not in column_counts:
        expected = " or ".join(f"{count} ({_LAYOUTS[count]})" for count in column_counts)
        raise ValueError(f"expected {expected} columns, found {len(fields)}: {line.strip()!r}")
    frame, cls, track = (_number(text, name, int) for text, name in zip(fields, ("frame", "class", "track")))
    if len(fields) == 5:
        azimuth, elevation = (_number(fields[i], name, angle_type) for i, name in ((3, "azimuth"), (4, "elevation")))
        return frame, cls, track, azimuth, elevation
    xyz = [_number(text, name, float) for text, name in zip(fields[3:], "xyz")]
    if not any(xyz):
        raise ValueError("expected a non-zero direction vector, found (0, 0, 0)")
    azimuth, elevation = cartesian_to_polar(xyz)
    return frame, cls, track, float(azimuth), float(elevation)


def _number(text: str, name: str, kind: type) -> int | float:
    try:
        value = kind(text)
    except ValueError:
        raise ValueError(f"expected {'an integer' if kind is int else 'a number'} {name}, found {text!r}") from None
    if not math.isfinite(value):
        raise ValueError(f"expected a finite {name}, found {text!r}")
    return value


def _check_row(
    frame: int, cls: int, track: int, azimuth: float, elevation: float, *, num_classes: int, num_frames: int | None
) -> None:
    if frame < 0:
        raise ValueError(f"expected a non-negative frame, found {frame}")
    if num_frames is not None and frame >= num_frames:
        raise ValueError(f"expected frame < {num_frames} (clip length in label frames), found {frame}")
    if not 0 <= cls < num_classes:
        raise ValueError(f"expected class in [0, {num_classes}), found {cls}")
    if track < 0:
        raise ValueError(f"expected a non-negative track, found {track}")
    if not -180 <= azimuth < 180:
        raise ValueError(f"expected azimuth in [-180, 180), found {azimuth:g}")
    if not -90 <= elevation <= 90:
        raise ValueError(f"expected elevation in [-90, 90], found {elevation:g}")


def _write_rows(path: str | os.PathLike, rows: Iterable[Iterable]) -> None:
    with atomic_open(path, "w", encoding="utf-8", newline="") as handle:
        for row in rows:
            handle.write(",".join(str(value) for value in row) + "\n")
