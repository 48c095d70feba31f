"""DESED (DCASE2022 Task 4) dataset tree as laid out by DESED_task's `dcase/dataset/`.

`ROOT/audio/...` holds the WAV folders (any rate; DESED_task also writes
`<folder>_16k` copies) and `ROOT/metadata/...` the tab-separated TSVs with
exact headers:

    strong     filename  onset  offset  event_label
    weak       filename  event_labels     (comma-separated class names)
    unlabeled  filename                   (optional; else every *.wav)
    durations  filename  duration

Subsets (name: audio folder, metadata TSV; see `SUBSETS`): `synthetic_train`,
`weak`, `unlabeled`, `audioset_strong`, `validation` (+ durations TSV),
`public_eval`, `synthetic_validation` (+ durations TSV). The synthetic
stand-in written by `seld_tf.datasets.synth` uses the same tree.

The real files' quirks are accepted: a UTF-8 byte-order mark, CRLF line
ends, trailing blank lines, decimal commas in times, strong rows with empty
onset, offset and label (the file has no events), offsets past the clip end
(clipped to the audio duration, one warning per TSV), clips shorter than
10 s, and files listed but not downloaded (skipped with a counted warning,
or an error with `strict=True`). Anything else malformed raises
`AnnotationError` naming the file and its 1-based line (the header is line 1).
"""

from __future__ import annotations

import dataclasses
import glob
import math
import os
import re
import warnings
from typing import Sequence

import numpy as np

from seld_tf.datasets.strong_events import StrongEvent, clip_events, events_to_weak
from seld_tf.audio import audio_info
from seld_tf.datasets.text import read_lines
from seld_tf.errors import AnnotationError, ConfigError, FileError

# DESED_task `local/classes_dict.py` order, which fixes the model's output columns.
CLASS_NAMES = (
    "Alarm_bell_ringing",
    "Blender",
    "Cat",
    "Dishes",
    "Dog",
    "Electric_shaver_toothbrush",
    "Frying",
    "Running_water",
    "Speech",
    "Vacuum_cleaner",
)
SAMPLE_RATE_FOLDERS = ("16k", None)

_HEADERS = {
    "strong": ("filename", "onset", "offset", "event_label"),
    "weak": ("filename", "event_labels"),
    "unlabeled": ("filename",),
    "durations": ("filename", "duration"),
}
# Plain decimals only: float() would also take "nan", "inf" and "1_0".
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
# The first missing files named in a warning or error; a real download can miss thousands.
_NAMED_MISSING = 5


@dataclasses.dataclass(frozen=True)
class SubsetLayout:
    """Where a subset lives under the root: `kind` is "strong", "weak" or "unlabeled"."""

    kind: str
    audio: str
    metadata: str
    durations: str | None = None


SUBSETS = {
    "synthetic_train": SubsetLayout(
        "strong", "audio/train/synthetic21_train/soundscapes", "metadata/train/synthetic21_train/soundscapes.tsv"
    ),
    "weak": SubsetLayout("weak", "audio/train/weak", "metadata/train/weak.tsv"),
    "unlabeled": SubsetLayout("unlabeled", "audio/train/unlabel_in_domain", "metadata/train/unlabel_in_domain.tsv"),
    "audioset_strong": SubsetLayout("strong", "audio/train/strong_label_real", "metadata/train/audioset_strong.tsv"),
    "validation": SubsetLayout(
        "strong",
        "audio/validation/validation",
        "metadata/validation/validation.tsv",
        "metadata/validation/validation_durations.tsv",
    ),
    "public_eval": SubsetLayout("strong", "audio/eval/public", "metadata/eval/public.tsv"),
    "synthetic_validation": SubsetLayout(
        "strong",
        "audio/validation/synthetic21_validation/soundscapes",
        "metadata/validation/synthetic21_validation/soundscapes.tsv",
        "metadata/validation/synthetic21_validation/durations.tsv",
    ),
}


@dataclasses.dataclass(frozen=True)
class DesedClip:
    """One clip of a subset.

    `events` is the strong annotation (None for weak and unlabeled clips; an
    empty list for a file annotated as having no events), clipped to
    [0, duration]. `weak` is the set of labels (for strong clips, those of
    the clipped events; None for unlabeled clips). `duration` is in seconds.
    """

    name: str
    path: str
    events: list[StrongEvent] | None
    weak: frozenset[str] | None
    duration: float


class DesedDataset:
    """The subsets of a DESED tree found under `root`.

    Subsets are found on construction (a labelled subset by its metadata TSV,
    `unlabeled` by its TSV or audio folder); each is read on its first
    `clips()` call, which is when malformed metadata raises and missing
    audio warns.

    Args:
        root: the `dcase/dataset/` folder holding `audio/` and `metadata/`.
        sample_rate_folder: "16k" reads `<folder>_16k` where it exists and
            `<folder>` elsewhere; None reads only `<folder>`.
        strict: raise `FileError` for audio listed in a TSV but absent,
            instead of skipping it with a warning.

    Raises:
        ConfigError: `sample_rate_folder` is not "16k" or None, or no subset
            is found under `root`.
    """

    def __init__(self, root: str | os.PathLike, *, sample_rate_folder: str | None = "16k", strict: bool = False):
        if sample_rate_folder not in SAMPLE_RATE_FOLDERS:
            raise ConfigError(f"expected sample_rate_folder '16k' or None, found {sample_rate_folder!r}")
        self.root = os.fspath(root)
        self.sample_rate_folder = sample_rate_folder
        self.strict = strict
        self.audio_folders: dict[str, str] = {}
        for name, layout in SUBSETS.items():
            folder = self._audio_folder(layout)
            listed = os.path.isfile(self._path(layout.metadata))
            if listed or (layout.kind == "unlabeled" and os.path.isdir(folder)):
                self.audio_folders[name] = folder
        if not self.audio_folders:
            expected = ", ".join(layout.metadata for layout in SUBSETS.values())
            raise ConfigError(f"{self.root}: no DESED subset found; expected one of {expected}")
        self._clips: dict[str, list[DesedClip]] = {}
        self._listed: dict[str, list[str]] = {}
        self._missing: dict[str, list[str]] = {}

    @property
    def subsets(self) -> tuple[str, ...]:
        """Names of the subsets present, in `SUBSETS` order."""
        return tuple(self.audio_folders)

    def clips(self, subset: str) -> list[DesedClip]:
        """The clips of `subset` whose audio exists, in TSV order (unlisted unlabeled WAVs last, sorted).

        Raises:
            ConfigError: `subset` is unknown or absent.
            AnnotationError: a TSV row is malformed, has a non-finite or
                negative time, onset > offset, or an unknown class name.
            AudioFileError: a WAV header cannot be read for its duration.
            FileError: with `strict`, audio listed in the TSV is missing.
        """
        if subset not in self._clips:
            self._clips[subset] = self._read(subset)
        return self._clips[subset]

    def listed(self, subset: str) -> list[str]:
        """File names listed in `subset`'s TSV, in TSV order, with audio or without."""
        self.clips(subset)
        return self._listed[subset]

    def missing_audio(self, subset: str) -> list[str]:
        """File names listed in `subset`'s TSV whose audio is absent (skipped by `clips`)."""
        self.clips(subset)
        return self._missing[subset]

    def _path(self, relative: str) -> str:
        return os.path.join(self.root, *relative.split("/"))

    def _audio_folder(self, layout: SubsetLayout) -> str:
        folder = self._path(layout.audio)
        if self.sample_rate_folder is not None and os.path.isdir(f"{folder}_{self.sample_rate_folder}"):
            return f"{folder}_{self.sample_rate_folder}"
        return folder

    def _read(self, subset: str) -> list[DesedClip]:
        if subset not in self.audio_folders:
            raise ConfigError(f"{self.root}: no subset {subset!r}; available: {', '.join(self.subsets)}")
        layout = SUBSETS[subset]
        folder = self.audio_folders[subset]
        metadata = self._path(layout.metadata)
        events, labels = None, None
        if layout.kind == "strong":
            events = _read_strong(metadata)
            names = list(events)
        elif layout.kind == "weak":
            labels = _read_weak(metadata)
            names = list(labels)
        else:
            names = _read_unlabeled(metadata) if os.path.isfile(metadata) else []
        self._listed[subset] = list(names)
        missing = [name for name in names if not os.path.isfile(os.path.join(folder, name))]
        self._missing[subset] = missing
        if missing:
            problem = (
                f"{len(missing)} of {len(names)} files listed have no audio in {folder}"
                f" (first: {', '.join(missing[:_NAMED_MISSING])})"
            )
            if self.strict:
                raise FileError(metadata, problem)
            warnings.warn(f"{metadata}: {problem}; skipped", stacklevel=3)
        absent = set(missing)
        names = [name for name in names if name not in absent]
        if layout.kind == "unlabeled":
            # DESED_task trains on every unlabeled WAV, listed or not.
            listed = set(names)
            found = sorted(os.path.basename(path) for path in glob.glob(os.path.join(glob.escape(folder), "*.wav")))
            names += [name for name in found if name not in listed]

        durations = _read_durations(self._path(layout.durations)) if layout.durations else {}
        clips, overrun = [], 0
        for name in names:
            path = os.path.join(folder, name)
            duration = durations[name] if name in durations else audio_info(path).duration
            strong, weak = None, None
            if events is not None:
                overrun += sum(event.offset > duration for event in events[name])
                strong = clip_events(events[name], duration)
                weak = frozenset(events_to_weak(strong))
            elif labels is not None:
                weak = labels[name]
            clips.append(DesedClip(name, path, strong, weak, duration))
        if overrun:
            warnings.warn(f"{metadata}: {overrun} event offsets past their clip's end were clipped to it", stacklevel=3)
        return clips


def split_names(names: Sequence[str], fraction: float, seed: int) -> tuple[list[str], list[str]]:
    """`(kept, held_out)`: the DCASE2022 baseline's split of its weak TSV's rows, the rows of
    `weak_df.sample(frac=fraction, random_state=seed)` kept for training, in the order pandas draws them, and the
    other rows held out for validation, in TSV order; `fraction` 1 keeps every name (in TSV order, where pandas
    would shuffle them)."""
    names = list(names)
    if fraction >= 1:
        return names, []
    # pandas draws round(frac * n) rows with RandomState(seed).choice(n, size, replace=False).
    chosen = np.random.RandomState(seed).choice(len(names), size=round(fraction * len(names)), replace=False)
    kept = set(chosen.tolist())
    return [names[i] for i in chosen], [name for i, name in enumerate(names) if i not in kept]


def _read_rows(path: str, header: tuple[str, ...]) -> list[tuple[int, list[str]]]:
    """The (1-based line, fields) of each row after the header, fields stripped of spaces."""
    lines = read_lines(path)
    if not lines:
        raise AnnotationError(path, None, f"is empty; expected the header {_tabbed(header)}")
    found = tuple(lines[0].split("\t"))
    if found != header:
        raise AnnotationError(path, 1, f"expected the header {_tabbed(header)}, found {_tabbed(found)}")
    rows = []
    for line, content in enumerate(lines[1:], start=2):
        if not content.strip():
            raise AnnotationError(path, line, "blank line inside the table")
        fields = [field.strip() for field in content.split("\t")]
        if len(fields) != len(header):
            raise AnnotationError(
                path, line, f"expected {len(header)} tab-separated columns ({_tabbed(header)}), found {len(fields)}"
            )
        if not fields[0]:
            raise AnnotationError(path, line, "empty filename")
        rows.append((line, fields))
    return rows


def _tabbed(fields: tuple[str, ...]) -> str:
    return repr("\t".join(fields))


def _seconds(path: str, line: int, column: str, value: str) -> float:
    # Spreadsheets in comma-decimal locales save "1,234" for 1.234 s.
    if value.count(",") == 1 and "." not in value:
        value = value.replace(",", ".")
    if not _NUMBER.fullmatch(value):
        raise AnnotationError(path, line, f"{column} {value!r} is not a number of seconds")
    seconds = float(value)
    if not math.isfinite(seconds) or seconds < 0:
        raise AnnotationError(path, line, f"{column} {value!r} must be a finite time >= 0")
    return seconds


def _label(path: str, line: int, label: str) -> str:
    if label not in CLASS_NAMES:
        raise AnnotationError(path, line, f"unknown class {label!r}; expected one of {', '.join(CLASS_NAMES)}")
    return label


def _read_strong(path: str) -> dict[str, list[StrongEvent]]:
    clips: dict[str, list[StrongEvent]] = {}
    for line, (name, onset, offset, label) in _read_rows(path, _HEADERS["strong"]):
        events = clips.setdefault(name, [])
        if not (onset or offset or label):
            continue
        if not (onset and offset and label):
            raise AnnotationError(
                path, line, "onset, offset and event_label must all be given, or all be empty for a file with no events"
            )
        start, end = _seconds(path, line, "onset", onset), _seconds(path, line, "offset", offset)
        if start > end:
            raise AnnotationError(path, line, f"onset {onset} is after offset {offset}")
        events.append(StrongEvent(start, end, _label(path, line, label)))
    return clips


def _read_weak(path: str) -> dict[str, frozenset[str]]:
    clips: dict[str, frozenset[str]] = {}
    for line, (name, labels) in _read_rows(path, _HEADERS["weak"]):
        if name in clips:
            raise AnnotationError(path, line, f"{name} is listed twice")
        parts = [part.strip() for part in labels.split(",")]
        if "" in parts:
            raise AnnotationError(path, line, f"event_labels {labels!r} has an empty class name")
        clips[name] = frozenset(_label(path, line, part) for part in parts)
    return clips


def _read_unlabeled(path: str) -> list[str]:
    names: dict[str, None] = {}
    for line, (name,) in _read_rows(path, _HEADERS["unlabeled"]):
        if name in names:
            raise AnnotationError(path, line, f"{name} is listed twice")
        names[name] = None
    return list(names)


def _read_durations(path: str) -> dict[str, float]:
    if not os.path.isfile(path):
        return {}
    durations: dict[str, float] = {}
    for line, (name, value) in _read_rows(path, _HEADERS["durations"]):
        if name in durations:
            raise AnnotationError(path, line, f"{name} is listed twice")
        duration = _seconds(path, line, "duration", value)
        if duration <= 0:
            raise AnnotationError(path, line, f"duration {value!r} must be > 0")
        durations[name] = duration
    return durations

