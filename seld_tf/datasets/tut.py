"""TUT Sound Events / Acoustic Scenes 2016-2017 and Imoto's SED+ASC metadata.

Nada et al. (2022) train on Imoto's `metadata_SEDandASC01` over TUT audio
(spec nada2022 §6). Two layouts are read here.

Imoto's metadata (`ImotoDataset`), under `metadata_root`:

    meta/meta_{development,evaluation}.txt
    crossvaridation/meta_fold0{1..4}_{development,evaluation}.txt   (sic)

tab-separated with the header `path scene_label event_start_time
event_end_time event_label` and one row per event; `path` is relative to
`audio_root`, the folder holding the TUT package folders
(`TUT-sound-events-2017-development/audio/street/a124.wav`). A recording
exists only through its event rows.

Original TUT packages: `read_ann` (`meta/<scene>/<id>.ann`), `read_tut_meta`
(`meta.txt` and any `evaluation_setup/*.txt`) and `read_evaluation_setup`
(the file for a fold and part), all through dcase_util's tolerant row
parser (`read_tut_rows`):

    1 column   file
    2 columns  file scene
    3 columns  onset offset label, or file scene identifier (AS 2017 meta.txt)
    4 columns  file onset offset label
    5 columns  file scene onset offset label
    6 columns  ... tag ("m")
    7 columns  ... tag identifier

Labels are mapped to the paper's names (`EVENT_LABEL_MAP`, `SCENE_LABEL_MAP`)
and must then be among `EVENT_CLASSES` and the allowed scenes (by default
`SCENE_CLASSES`; pass `TUT_ACOUSTIC_SCENES` to read a whole AS package).

The real files' quirks are accepted: a UTF-8 byte-order mark, CRLF line
ends, trailing blank lines, decimal commas ("1,234"), zero-length events
(dropped with a counted warning, spec §6.5) and overlapping events of one
class in one recording (merged into one, with a counted warning). Anything
else malformed (wrong column count, non-numeric or negative time, offset
before onset, unknown event or scene label, one recording given two scenes,
missing audio) raises `AnnotationError` naming the file and its 1-based line.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
import warnings
from typing import NamedTuple


from seld_tf.datasets.strong_events import StrongEvent, clip_events
from seld_tf.audio import audio_info
from seld_tf.datasets.text import read_lines
from seld_tf.errors import AnnotationError, ConfigError, FileError

# Alphabetical, as the `eventname` list of `mtl_sed_asc.py`: fixes the output columns.
EVENT_CLASSES = (
    "(object) banging",
    "(object) impact",
    "(object) rustling",
    "(object) snapping",
    "(object) squeaking",
    "bird singing",
    "brakes squeaking",
    "breathing",
    "car",
    "children",
    "cupboard",
    "cutlery",
    "dishes",
    "drawer",
    "fan",
    "glass jingling",
    "keyboard typing",
    "large vehicle",
    "mouse clicking",
    "mouse wheeling",
    "people talking",
    "people walking",
    "washing dishes",
    "water tap running",
    "wind blowing",
)
# The paper gives no scene order; alphabetical (spec §8 question 15).
SCENE_CLASSES = ("city_center", "home", "office", "residential_area")
TUT_ACOUSTIC_SCENES = (
    "beach",
    "bus",
    "cafe/restaurant",
    "car",
    "city_center",
    "forest_path",
    "grocery_store",
    "home",
    "library",
    "metro_station",
    "office",
    "park",
    "residential_area",
    "train",
    "tram",
)
# Original TUT names -> the names Imoto's metadata uses.
EVENT_LABEL_MAP = {
    "car passing by": "car",
    "children shouting": "children",
    "object impact": "(object) impact",
    "people speaking": "people talking",
}
SCENE_LABEL_MAP = {"street": "city_center"}

SPLITS = ("development", "evaluation")
FOLDS = (1, 2, 3, 4)
PARTS = ("train", "test")
# Imoto's cross-validation files call the training part "development" and the held-out part "evaluation".
_FOLD_FILE_PART = {"train": "development", "test": "evaluation"}
_IMOTO_HEADER = ("path", "scene_label", "event_start_time", "event_end_time", "event_label")
# Plain decimals only: float() would also take "nan", "inf" and "1_0".
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")


class TutRow(NamedTuple):
    """One row of a TUT annotation or list file; absent columns are None.

    `scene` and `label` are already mapped to the paper's names; `tag` is the
    6th column of `meta.txt` ("m"), `identifier` the recording identifier.
    """

    line: int
    file: str | None
    scene: str | None
    onset: float | None
    offset: float | None
    label: str | None
    tag: str | None
    identifier: str | None


@dataclasses.dataclass(frozen=True)
class TutRecording:
    """The rows of one file of a TUT list, gathered: `file` as written (relative to the package root)."""

    file: str
    scene: str | None
    events: list[StrongEvent]


@dataclasses.dataclass(frozen=True)
class ImotoClip:
    """One recording of Imoto's metadata.

    `name` is the metadata's `path`, `path` the audio file under the audio
    root, `duration` its length in seconds (None when audio is not checked).
    `events` are sorted by onset, zero-length ones dropped, same-class
    overlaps merged, and clipped to `duration`.
    """

    name: str
    path: str
    scene: str
    events: list[StrongEvent]
    duration: float | None


def _lines(path: str) -> list[tuple[int, str]]:
    """The (1-based line, text) of each line up to the last non-blank one."""
    lines = read_lines(path)
    numbered = list(enumerate(lines, start=1))
    for line, content in numbered:
        if not content.strip():
            raise AnnotationError(path, line, "blank line inside the table")
    return numbered


def _is_number(value: str) -> bool:
    return bool(_NUMBER.fullmatch(_point(value)))


def _point(value: str) -> str:
    # TUT 2016 .ann files write some times with a decimal comma (the DCASE2016 baseline replaces it).
    return value.replace(",", ".") if value.count(",") == 1 and "." not in value else value


def _seconds(path: str, line: int, column: str, value: str) -> float:
    if not _is_number(value):
        raise AnnotationError(path, line, f"{column} {value!r} is not a number of seconds")
    seconds = float(_point(value))
    if not math.isfinite(seconds) or seconds < 0:
        raise AnnotationError(path, line, f"{column} {value!r} must be a finite time >= 0")
    return seconds


def _event_label(path: str, line: int, label: str) -> str:
    label = EVENT_LABEL_MAP.get(label, label)
    if label not in EVENT_CLASSES:
        raise AnnotationError(path, line, f"unknown event label {label!r}; expected one of {', '.join(EVENT_CLASSES)}")
    return label


def _scene(path: str, line: int, scene: str, scenes: tuple[str, ...]) -> str:
    scene = SCENE_LABEL_MAP.get(scene, scene)
    if scene not in scenes:
        raise AnnotationError(path, line, f"unknown scene {scene!r}; expected one of {', '.join(scenes)}")
    return scene


def _event(path: str, line: int, onset: str, offset: str, label: str) -> tuple[float, float, str]:
    start, end = _seconds(path, line, "onset", onset), _seconds(path, line, "offset", offset)
    if start > end:
        raise AnnotationError(path, line, f"onset {onset} is after offset {offset}")
    return start, end, _event_label(path, line, label)


def read_tut_rows(path: str | os.PathLike, *, scenes: tuple[str, ...] = SCENE_CLASSES) -> list[TutRow]:
    """Every row of a headerless tab-separated TUT file, by dcase_util's column rules (module docstring).

    A 3-column row is an event when its first two fields are numbers, else
    `file scene identifier`, as dcase_util decides.

    Raises:
        AnnotationError: a row has 0 or more than 7 columns, an empty file
            name, a bad time or an unknown label or scene.
    """
    path = os.fspath(path)
    rows = []
    for line, content in _lines(path):
        fields = [field.strip() for field in content.split("\t")]
        file = scene = tag = identifier = None
        onset = offset = label = None
        count = len(fields)
        if count == 3 and _is_number(fields[0]) and _is_number(fields[1]):
            onset, offset, label = _event(path, line, *fields)
        elif count == 3:
            file, scene, identifier = fields
        elif count == 4:
            file = fields[0]
            onset, offset, label = _event(path, line, *fields[1:])
        elif count in (5, 6, 7):
            file, scene = fields[:2]
            onset, offset, label = _event(path, line, *fields[2:5])
            tag = fields[5] if count >= 6 else None
            identifier = fields[6] if count == 7 else None
        elif count in (1, 2):
            file, scene = fields[0], (fields[1] if count == 2 else None)
        else:
            raise AnnotationError(
                path,
                line,
                "expected 1 to 7 tab-separated columns (file, scene, onset, offset, label, tag, identifier),"
                f" found {count}",
            )
        if file is not None and not file:
            raise AnnotationError(path, line, "empty file name")
        if scene is not None:
            scene = _scene(path, line, scene, scenes)
        rows.append(TutRow(line, file, scene, onset, offset, label, tag, identifier))
    return rows


def merge_events(events: list[StrongEvent]) -> tuple[list[StrongEvent], int, int]:
    """Sort events by onset, drop zero-length ones and merge overlapping ones of one class.

    Events that only touch (offset == next onset) are kept apart. Returns the
    events and the numbers of zero-length events dropped and merges made.
    """
    kept = [event for event in events if event.offset > event.onset]
    dropped = len(events) - len(kept)
    merged: list[StrongEvent] = []
    last: dict[str, int] = {}
    merges = 0
    for event in sorted(kept):
        previous = last.get(event.label)
        if previous is not None and event.onset < merged[previous].offset:
            merged[previous] = merged[previous]._replace(offset=max(merged[previous].offset, event.offset))
            merges += 1
        else:
            last[event.label] = len(merged)
            merged.append(event)
    return merged, dropped, merges


def _warn_tidied(path: str, dropped: int, merges: int) -> None:
    if dropped:
        warnings.warn(f"{path}: {dropped} zero-length events dropped", stacklevel=3)
    if merges:
        warnings.warn(f"{path}: {merges} overlapping events of the same class merged", stacklevel=3)


def read_ann(path: str | os.PathLike) -> list[StrongEvent]:
    """The events of one TUT `.ann` file, tidied by `merge_events` (with warnings).

    Rows may carry leading file/scene columns (the 2017 evaluation files do).

    Raises:
        AnnotationError: a row is malformed or has no event.
    """
    path = os.fspath(path)
    events = []
    for row in read_tut_rows(path, scenes=TUT_ACOUSTIC_SCENES):
        if row.label is None:
            raise AnnotationError(path, row.line, "expected an event row (onset, offset, label)")
        events.append(StrongEvent(row.onset, row.offset, row.label))
    events, dropped, merges = merge_events(events)
    _warn_tidied(path, dropped, merges)
    return events


def read_tut_meta(path: str | os.PathLike, *, scenes: tuple[str, ...] = SCENE_CLASSES) -> dict[str, TutRecording]:
    """A TUT `meta.txt` or `evaluation_setup` list, gathered per file in order of first row.

    Events of each file are tidied by `merge_events` (one warning per list).

    Raises:
        AnnotationError: a row is malformed, has no file column, or gives a
            file a second, different scene.
    """
    path = os.fspath(path)
    gathered: dict[str, tuple[str | None, list[StrongEvent]]] = {}
    for row in read_tut_rows(path, scenes=scenes):
        if row.file is None:
            raise AnnotationError(path, row.line, "expected a file name in the first column")
        scene, events = gathered.setdefault(row.file, (row.scene, []))
        if row.scene is not None and scene is not None and row.scene != scene:
            raise AnnotationError(
                path, row.line, f"{row.file} has scene {row.scene!r} here but {scene!r} on an earlier row"
            )
        if scene is None:
            gathered[row.file] = (row.scene, events)
        if row.label is not None:
            events.append(StrongEvent(row.onset, row.offset, row.label))
    recordings, dropped, merges = {}, 0, 0
    for file, (scene, events) in gathered.items():
        tidied, zero, merged = merge_events(events)
        dropped, merges = dropped + zero, merges + merged
        recordings[file] = TutRecording(file, scene, tidied)
    _warn_tidied(path, dropped, merges)
    return recordings


def read_evaluation_setup(
    package_root: str | os.PathLike,
    part: str,
    *,
    fold: int | None = None,
    scene: str | None = None,
    scenes: tuple[str, ...] = SCENE_CLASSES,
) -> dict[str, TutRecording]:
    """`evaluation_setup/[<scene>_][fold<k>_]<part>.txt` of a TUT package, read by `read_tut_meta`.

    `part` is "train", "test" or "evaluate"; `scene` the original scene folder
    of a sound-event package ("home", "residential_area", "street"), None for
    an acoustic-scene package; `fold` 1-4 for development packages, None for
    evaluation ones.

    Raises:
        ConfigError: `part` or `fold` is not one of the allowed values.
        FileError: the file does not exist.
    """
    if part not in ("train", "test", "evaluate"):
        raise ConfigError(f"part must be 'train', 'test' or 'evaluate', found {part!r}")
    if fold is not None and fold not in FOLDS:
        raise ConfigError(f"fold must be one of {FOLDS} or None, found {fold!r}")
    name = "".join([f"{scene}_" if scene else "", f"fold{fold}_" if fold else "", f"{part}.txt"])
    path = os.path.join(os.fspath(package_root), "evaluation_setup", name)
    if not os.path.isfile(path):
        raise FileError(path, "evaluation setup file not found")
    return read_tut_meta(path, scenes=scenes)


class ImotoDataset:
    """Imoto's `metadata_SEDandASC01` over the TUT audio.

    Args:
        metadata_root: the folder holding `meta/` and `crossvaridation/`.
        audio_root: the folder holding the TUT package folders that the
            metadata's paths start with.
        check_audio: read each WAV header for the clip's duration (and
            refuse missing audio); False reads the metadata alone.
    """

    def __init__(self, metadata_root: str | os.PathLike, audio_root: str | os.PathLike, *, check_audio: bool = True):
        self.metadata_root = os.fspath(metadata_root)
        self.audio_root = os.fspath(audio_root)
        self.check_audio = check_audio
        self._clips: dict[str, list[ImotoClip]] = {}

    def metadata_file(self, split: str = "development", fold: int | None = None, part: str | None = None) -> str:
        """The metadata file for a split, or for the train/test part of a development fold.

        Raises:
            ConfigError: an unknown split, fold or part, a fold of the
                evaluation split, or a part given without a fold (or the reverse).
        """
        if split not in SPLITS:
            raise ConfigError(f"split must be one of {SPLITS}, found {split!r}")
        if fold is None:
            if part is not None:
                raise ConfigError(f"part {part!r} needs a fold; the whole {split} split has no parts")
            return os.path.join(self.metadata_root, "meta", f"meta_{split}.txt")
        if split != "development":
            raise ConfigError("folds partition the development split only")
        if fold not in FOLDS:
            raise ConfigError(f"fold must be one of {FOLDS} or None, found {fold!r}")
        if part not in PARTS:
            raise ConfigError(f"part must be one of {PARTS} for a fold, found {part!r}")
        return os.path.join(self.metadata_root, "crossvaridation", f"meta_fold0{fold}_{_FOLD_FILE_PART[part]}.txt")

    def clips(self, split: str = "development", fold: int | None = None, part: str | None = None) -> list[ImotoClip]:
        """The recordings of a split or fold part, in order of first row.

        Raises:
            ConfigError: see `metadata_file`.
            FileError: the metadata file is missing.
            AnnotationError: a row is malformed (wrong header or column count,
                bad time, unknown label or scene, a second scene for one
                recording), or, with `check_audio`, a recording's audio is
                missing (named at its first row).
            AudioFileError: a WAV header cannot be read.
        """
        path = self.metadata_file(split, fold, part)
        if path not in self._clips:
            self._clips[path] = self._read(path)
        return self._clips[path]

    def _read(self, path: str) -> list[ImotoClip]:
        if not os.path.isfile(path):
            raise FileError(path, "metadata file not found")
        lines = _lines(path)
        if not lines:
            raise AnnotationError(path, None, f"is empty; expected the header {_tabbed(_IMOTO_HEADER)}")
        header = tuple(field.strip() for field in lines[0][1].split("\t"))
        if header != _IMOTO_HEADER:
            raise AnnotationError(path, 1, f"expected the header {_tabbed(_IMOTO_HEADER)}, found {_tabbed(header)}")
        recordings: dict[str, tuple[int, str, list[StrongEvent]]] = {}
        for line, content in lines[1:]:
            fields = [field.strip() for field in content.split("\t")]
            if len(fields) != len(_IMOTO_HEADER):
                raise AnnotationError(
                    path,
                    line,
                    f"expected {len(_IMOTO_HEADER)} tab-separated columns ({_tabbed(_IMOTO_HEADER)}),"
                    f" found {len(fields)}",
                )
            name, scene, onset, offset, label = fields
            if not name:
                raise AnnotationError(path, line, "empty path")
            scene = _scene(path, line, scene, SCENE_CLASSES)
            first, known, events = recordings.setdefault(name, (line, scene, []))
            if scene != known:
                raise AnnotationError(path, line, f"{name} has scene {scene!r} here but {known!r} on row {first}")
            events.append(StrongEvent(*_event(path, line, onset, offset, label)))

        clips, dropped, merges, overrun = [], 0, 0, 0
        for name, (first, scene, events) in recordings.items():
            audio = os.path.join(self.audio_root, *name.split("/"))
            events, zero, merged = merge_events(events)
            dropped, merges = dropped + zero, merges + merged
            duration = None
            if self.check_audio:
                if not os.path.isfile(audio):
                    raise AnnotationError(path, first, f"audio {audio} does not exist")
                duration = audio_info(audio).duration
                overrun += sum(event.offset > duration for event in events)
                events = clip_events(events, duration)
            clips.append(ImotoClip(name, audio, scene, events, duration))
        _warn_tidied(path, dropped, merges)
        if overrun:
            warnings.warn(
                f"{path}: {overrun} event offsets past their recording's end were clipped to it", stacklevel=3
            )
        return clips


def _tabbed(fields: tuple[str, ...]) -> str:
    return repr("\t".join(fields))

