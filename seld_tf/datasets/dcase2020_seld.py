"""DCASE2020 Task 3 (TAU-NIGENS Spatial Sound Events 2020) format.

Reads and writes the metadata CSVs (`frame,class,track,azimuth,elevation`,
integers, one row per active event per 100 ms label frame), the baseline's
output CSVs (the same polar form, or `frame,class,track,x,y,z`), the file
naming scheme, and discovers a dataset folder laid out as released
(`foa_dev/`, `mic_dev/`, `metadata_dev/`, and the `_eval` counterparts).
"""

from __future__ import annotations

import codecs
import dataclasses
import math
import os
import re
from typing import Iterable, NamedTuple, Sequence

import numpy as np

from seld_tf.datasets.events import EventList, cartesian_to_polar, repeated_key_rows, wrap_azimuth
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
# The bytes of a plainly written event CSV, and its columns' types (`_parse_plain`).
_PLAIN_BYTES = b"0123456789,-.\n"
_INT64_MAX = np.iinfo(np.int64).max
_PLAIN_DTYPES = {
    count: np.dtype([(name, np.int64 if index < 3 else np.float64) for index, name in enumerate(layout.split(","))])
    for count, layout in _LAYOUTS.items()
}
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

    Azimuths lie in [-180, 180]; 180, the direction of -180, is read as -180.
    A UTF-8 byte-order mark at the start is skipped.

    Two rows with the same frame, class and track are refused: a track is one
    source, active once per frame, so such rows are two sources claiming one
    track (the DCASE2020 metadata has none). Refusing them here, with both
    row numbers, serves both label forms alike, which would otherwise keep one
    row silently (class-wise) or fail without naming the file (trackwise).

    Args:
        path: the CSV file.
        num_classes: classes are checked to lie in `[0, num_classes)`.
        num_frames: when given, frames are checked to lie in `[0, num_frames)`
            and it becomes the returned list's `num_frames`.

    Raises:
        AnnotationError: naming the file and 1-based row of the first
            malformed or out-of-range row or, when every row is well formed,
            of the first row repeating an earlier row's (frame, class, track).
    """
    return read_metadata_files([path], num_classes=num_classes, num_frames=num_frames)[0]


def read_metadata_files(
    paths: Sequence[str | os.PathLike], *, num_classes: int = len(CLASS_NAMES), num_frames: int | None = None
) -> list[EventList]:
    """`read_metadata` of each file, the files parsed together: for many files, several times faster.

    Raises:
        AnnotationError: as `read_metadata`, for the first bad file in `paths` order.
    """
    return _read_event_csvs(
        paths, column_counts=(5,), angle_type=int, num_classes=num_classes, num_frames=num_frames, unique_keys=True
    )


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
    "cartesian") accepts only that form; None accepts both. Polar azimuths
    lie in [-180, 180], 180 being read as -180. Rows may repeat a (frame,
    class, track): the metric ignores the track of system outputs, as the
    official loader does. Other arguments and the byte-order mark as in
    `read_metadata`.

    Raises:
        AnnotationError: naming the file and 1-based row of the first
            malformed or out-of-range row.
    """
    return read_output_files([path], num_classes=num_classes, num_frames=num_frames, coordinates=coordinates)[0]


def read_output_files(
    paths: Sequence[str | os.PathLike],
    *,
    num_classes: int = len(CLASS_NAMES),
    num_frames: int | None = None,
    coordinates: str | None = None,
) -> list[EventList]:
    """`read_output` of each file, the files parsed together: for many files, several times faster.

    Raises:
        AnnotationError: as `read_output`, for the first bad file in `paths` order.
    """
    column_counts = {None: (5, 6), "polar": (5,), "cartesian": (6,)}
    if coordinates not in column_counts:
        raise ConfigError(f"expected coordinates 'polar', 'cartesian' or None, found {coordinates!r}")
    return _read_event_csvs(
        paths, column_counts=column_counts[coordinates], angle_type=float, num_classes=num_classes, num_frames=num_frames
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


class _Columns(NamedTuple):
    """Parsed rows of an event CSV before conversion to an `EventList`.

    `values` `[N, 2]` or `[N, 3]` holds each row's azimuth and elevation
    (degrees; a third column unused) or, where `cartesian` is set, its x, y, z.
    """

    frame: np.ndarray
    cls: np.ndarray
    track: np.ndarray
    values: np.ndarray
    cartesian: np.ndarray

    def to_events(self, num_frames: int | None) -> EventList:
        azimuth, elevation = self.values[:, 0].copy(), self.values[:, 1].copy()
        if self.cartesian.any():
            azimuth[self.cartesian], elevation[self.cartesian] = cartesian_to_polar(self.values[self.cartesian])
        # 180 and -180 are one direction; event lists hold azimuths in [-180, 180).
        azimuth[azimuth == 180.0] = -180.0
        return EventList(self.frame, self.cls, self.track, azimuth, elevation, num_frames=num_frames)


def _read_event_csvs(
    paths: Sequence[str | os.PathLike],
    *,
    column_counts: tuple[int, ...],
    angle_type: type,
    num_classes: int,
    num_frames: int | None,
    unique_keys: bool = False,
) -> list[EventList]:
    """Read and validate event CSVs whose rows have one of `column_counts` columns.

    A UTF-8 byte-order mark is skipped. Blank lines are tolerated at the end of
    a file only: one in the middle suggests a damaged or concatenated file.
    With `unique_keys`, two rows with the same frame, class and track are an
    error naming both rows. Errors concern the first bad file in `paths` order.
    """
    datas = [_read_bytes(path) for path in paths]
    # All files parsed as one text when all are plain; else each on its own, in order.
    parsed = None if None in datas else _parse_plain(datas, column_counts, angle_type, num_classes, num_frames)
    if parsed is not None:
        columns, bounds = parsed
        events = columns.to_events(num_frames)
        event_lists = [events.select(slice(start, stop)) for start, stop in zip(bounds[:-1], bounds[1:])]
        if unique_keys and _may_repeat_keys(events, bounds):
            for path, file_events in zip(paths, event_lists):
                _checked_keys(path, file_events, unique_keys)
        return event_lists
    event_lists = []
    for path, data in zip(paths, datas):
        if data is None:
            raise AnnotationError(path, None, "expected a CSV file, found no such file")
        parsed = _parse_plain([data], column_counts, angle_type, num_classes, num_frames)
        columns = parsed[0] if parsed else _parse_rows(path, data, column_counts, angle_type, num_classes, num_frames)
        event_lists.append(_checked_keys(path, columns.to_events(num_frames), unique_keys))
    return event_lists


def _may_repeat_keys(events: EventList, bounds: Sequence[int]) -> bool:
    """Whether a file, rows `bounds[i]:bounds[i + 1]` of `events`, may repeat a (frame, class, track).

    One sort for all files instead of one per file. Needs non-negative frames,
    classes and tracks; answers True where one int64 key cannot hold them.
    """
    if not len(events):
        return False
    spans = (len(bounds) - 1, int(events.frame.max()) + 1, int(events.track.max()) + 1, int(events.cls.max()) + 1)
    if math.prod(spans) >= 2**62:
        return True
    file_index = np.repeat(np.arange(spans[0]), np.diff(bounds))
    key = ((file_index * spans[1] + events.frame) * spans[2] + events.track) * spans[3] + events.cls
    # Files written in frame, track, class order give a sorted key, which the stable sort (timsort) checks in one pass.
    key = np.sort(key, kind="stable")
    return bool(np.any(key[1:] == key[:-1]))


def _checked_keys(path: str | os.PathLike, events: EventList, unique_keys: bool) -> EventList:
    """`events`, after refusing, with `unique_keys`, a repeated (frame, class, track)."""
    if unique_keys and (rows := repeated_key_rows(events)) is not None:
        first, repeat = rows
        raise AnnotationError(
            path,
            repeat + 1,
            f"expected one row per (frame, class, track), found frame {events.frame[repeat]}, "
            f"class {events.cls[repeat]}, track {events.track[repeat]} again (first at row {first + 1})",
        )
    return events


def _read_bytes(path: str | os.PathLike) -> bytes | None:
    """The file's bytes without a UTF-8 byte-order mark; None if there is no such file."""
    try:
        with open(path, "rb") as handle:
            return handle.read().removeprefix(codecs.BOM_UTF8)
    except FileNotFoundError:
        return None


def _parse_plain(
    datas: Sequence[bytes], column_counts: tuple[int, ...], angle_type: type, num_classes: int, num_frames: int | None
) -> tuple[_Columns, list[int]] | None:
    """The rows of plainly written files, all in range, parsed as one text; None if any file is otherwise.

    Plain: only digits, `-`, `.`, commas and line breaks, the same number of
    fields on every line (so no blank line before the end), integers where
    `_parse_rows` wants them. That is how the package and the official tools
    write these files, and parsing them in C, many files per call, is many
    times faster than row by row. Every other file goes to `_parse_rows`,
    which accepts or refuses it and says where and why; a file this function
    accepts, `_parse_rows` would read to the same values.

    Returns:
        The columns of all files' rows, and the row index where each file
        starts, plus the total (`len(datas) + 1` bounds).
    """
    # ends: where each file's text ends in the joined text (-1 before the first non-empty file).
    texts, ends, end = [], [], -1
    for data in datas:
        if b"\r" in data:
            data = data.replace(b"\r\n", b"\n")
        data = data.rstrip(b"\n")
        if data.translate(None, _PLAIN_BYTES):
            return None
        if data:
            texts.append(data)
            end += len(data) + 1
        ends.append(end)
    if not texts:
        empty = _Columns(*(np.zeros(0, dtype=np.int64) for _ in range(3)), np.zeros((0, 2)), np.zeros(0, dtype=bool))
        return empty, [0] * (len(datas) + 1)
    data = b"\n".join(texts)
    num_columns = data.partition(b"\n")[0].count(b",") + 1
    if num_columns not in column_counts:
        return None
    text = np.frombuffer(data, dtype=np.uint8)
    commas, line_ends = np.flatnonzero(text == ord(",")), np.flatnonzero(text == ord("\n"))
    per_line = num_columns - 1
    if len(commas) != per_line * (len(line_ends) + 1):
        return None
    if np.any(commas[per_line - 1 : -1 : per_line] > line_ends) or np.any(commas[per_line::per_line] < line_ends):
        return None
    # A file's rows end with its last line: the lines ending before its end, plus that one.
    ends = np.array(ends)
    bounds = [0, *(np.searchsorted(line_ends, ends) + (ends >= 0)).tolist()]
    if angle_type is int:
        # Every field an integer: np.fromstring is twice as fast as np.loadtxt, but reads a lone "-" as 0.
        if b"." in data or data.endswith(b"-") or np.any(text[np.flatnonzero(text == ord("-")) + 1] < ord("0")):
            return None
        integers = np.fromstring(data.replace(b"\n", b","), dtype=np.int64, sep=",")
        if len(integers) != len(commas) + len(line_ends) + 1:
            return None
        integers = integers.reshape(-1, num_columns)
        values = integers[:, 3:].astype(np.float64)
    else:
        # np.loadtxt reads 0.0 or 1.5 into an integer column as 0 or 1, with only a
        # DeprecationWarning; _parse_rows refuses them.
        dots = np.flatnonzero(text == ord("."))
        third_comma = commas[per_line * np.searchsorted(line_ends, dots) + 2]
        if np.any(dots < third_comma):
            return None
        try:
            # A list of lines reads faster than a file object.
            lines = data.decode("ascii").split("\n")
            table = np.loadtxt(lines, dtype=_PLAIN_DTYPES[num_columns], delimiter=",", comments=None, ndmin=1)
        except (ValueError, OverflowError):
            return None
        integers = table.view(np.int64).reshape(-1, num_columns)
        values = table.view(np.float64).reshape(-1, num_columns)[:, 3:]
    frame, cls, track = integers[:, 0], integers[:, 1], integers[:, 2]
    keys = integers[:, :3]
    # np.fromstring saturates an integer beyond int64 instead of failing.
    if keys.min() < 0 or keys.max() >= _INT64_MAX or cls.max() >= num_classes:
        return None
    if num_frames is not None and frame.max() >= num_frames:
        return None
    if num_columns == 6:
        if not (np.isfinite(values).all() and values.any(axis=1).all()):
            return None
    else:
        azimuth, elevation = values[:, 0], values[:, 1]
        if not (-180 <= azimuth.min() and azimuth.max() <= 180 and -90 <= elevation.min() and elevation.max() <= 90):
            return None
    return _Columns(frame, cls, track, values, np.full(len(frame), num_columns == 6)), bounds


def _parse_rows(
    path: str | os.PathLike,
    data: bytes,
    column_counts: tuple[int, ...],
    angle_type: type,
    num_classes: int,
    num_frames: int | None,
) -> _Columns:
    """Parse and check row by row, raising at the first malformed or out-of-range row."""
    try:
        lines = data.decode("utf-8").splitlines()
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
    values = np.zeros((len(rows), 3))
    for index, row in enumerate(rows):
        values[index, : len(row[3])] = row[3]
    return _Columns(
        *(np.array([row[i] for row in rows], dtype=np.int64) for i in range(3)),
        values,
        np.array([len(row[3]) == 3 for row in rows], dtype=bool),
    )


def _parse_row(line: str, column_counts: tuple[int, ...], angle_type: type) -> tuple[int, int, int, tuple[float, ...]]:
    """`(frame, class, track, values)` of one CSV line, `values` being `(azimuth, elevation)` or `(x, y, z)`;
    ValueError saying what is wrong."""
    fields = [value.strip() for value in line.split(",")]
    if len(fields) not in column_counts:
        expected = " or ".join(f"{count} ({_LAYOUTS[count]})" for count in column_counts)
        raise ValueError(f"expected {expected} columns, found {len(fields)}: {line.strip()!r}")
    frame, cls, track = (_number(text, name, int) for text, name in zip(fields, ("frame", "class", "track")))
    if len(fields) == 5:
        values = tuple(_number(fields[i], name, angle_type) for i, name in ((3, "azimuth"), (4, "elevation")))
        return frame, cls, track, values
    xyz = tuple(_number(text, name, float) for text, name in zip(fields[3:], "xyz"))
    if not any(xyz):
        raise ValueError("expected a non-zero direction vector, found (0, 0, 0)")
    return frame, cls, track, xyz


def _number(text: str, name: str, kind: type) -> int | float:
    try:
        value = kind(text)
    except ValueError:
        raise ValueError(f"expected {'an integer' if kind is int else 'a number'} {name}, found {text!r}") from None
    if not math.isfinite(value):
        raise ValueError(f"expected a finite {name}, found {text!r}")
    return value


def _check_row(
    frame: int, cls: int, track: int, values: tuple[float, ...], *, num_classes: int, num_frames: int | None
) -> None:
    if frame < 0:
        raise ValueError(f"expected a non-negative frame, found {frame}")
    if num_frames is not None and frame >= num_frames:
        raise ValueError(f"expected frame < {num_frames} (clip length in label frames), found {frame}")
    if not 0 <= cls < num_classes:
        raise ValueError(f"expected class in [0, {num_classes}), found {cls}")
    if track < 0:
        raise ValueError(f"expected a non-negative track, found {track}")
    if len(values) == 3:  # Cartesian: any non-zero vector is a direction
        return
    azimuth, elevation = values
    if not -180 <= azimuth <= 180:
        raise ValueError(f"expected azimuth in [-180, 180], found {azimuth:g}")
    if not -90 <= elevation <= 90:
        raise ValueError(f"expected elevation in [-90, 90], found {elevation:g}")


def _write_rows(path: str | os.PathLike, rows: Iterable[Iterable]) -> None:
    with atomic_open(path, "w", encoding="utf-8", newline="") as handle:
        for row in rows:
            handle.write(",".join(str(value) for value in row) + "\n")
