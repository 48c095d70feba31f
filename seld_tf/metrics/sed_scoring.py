"""Scores of SED, tagging and scene outputs read from TSV files (`seld-tf score --task ...`).

numpy (and scikit-learn for tagging) only: scoring a folder of TSVs must not
pay for importing TensorFlow.

Files are tab-separated UTF-8. Every reader accepts a header row (recognised by
a first cell `filename`) or none, CRLF line ends, blank lines, and decimal
commas in numbers. A malformed row raises `AnnotationError` naming the file and
its 1-based row.

* Strong TSV (reference, prediction, per-threshold tables):
  `filename onset offset event_label`. A row with the filename alone, or with
  onset, offset and label all empty, is a file without events.
* Score table (sed_scores_eval's format, one `<clip_id>.tsv` per clip, the
  clip id being the reference filename without its extension): header
  `onset offset <class> <class> ...`, then one row per frame segment with
  the class scores; segments are contiguous (each onset is the previous
  offset) and of positive length.
* Durations TSV: `filename duration`.
* Weak TSV (tagging reference): `filename event_labels`, labels
  comma-separated, empty for a clip without labels.
* Clip scores TSV (tagging prediction): header `filename <label> <label> ...`,
  then one row of scores per clip.
* Scene TSV (reference and prediction): `filename scene_label`.

The reference's files are the evaluated set: a predicted file outside it is an
error, a reference file absent from the SED prediction has no detections
(DESED_task's rule); tagging and scene need a prediction for every reference
clip.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from seld_tf.errors import AnnotationError, ConfigError, FileError

Row = tuple[int, list[str]]
Events = dict[str, list[tuple[float, float, str]]]

# DESED_task writes one detection table per threshold as predictions_th_<t:.2f>.tsv.
THRESHOLD_FILE = re.compile(r"predictions_th_(\d+(?:\.\d+)?)\.tsv")
SCORE_TABLE_HEADER = "onset<TAB>offset<TAB><class><TAB><class>..."


def _lines(path: Path) -> list[Row]:
    """Non-blank rows as stripped cells, with their 1-based line numbers."""
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        raise FileError(path, f"cannot read ({error})") from None
    return [(number, [cell.strip() for cell in line.split("\t")]) for number, line in enumerate(text.splitlines(), 1) if line.strip()]


def _rows(path: Path) -> list[Row]:
    """Non-blank rows as cells, with their 1-based line numbers, header dropped."""
    rows = _lines(path)
    if rows and rows[0][1][0].lower() == "filename":
        rows = rows[1:]
    return rows


def _number(path: Path, row: int, text: str, what: str) -> float:
    try:
        value = float(text.replace(",", "."))
    except ValueError:
        raise AnnotationError(path, row, f"{what} {text!r} is not a number") from None
    if not math.isfinite(value):
        raise AnnotationError(path, row, f"{what} {text!r} is not a finite number")
    return value


def _cells(path: Path, row: int, cells: list[str], count: int, columns: str) -> list[str]:
    if len(cells) > count and any(cells[count:]):
        raise AnnotationError(path, row, f"expected {count} columns ({columns}), found {len(cells)}")
    cells = (cells + [""] * count)[:count]
    if not cells[0]:
        raise AnnotationError(path, row, "empty filename")
    return cells


def read_strong(path: str | os.PathLike) -> Events:
    """`{filename: [(onset, offset, label), ...]}`, files without events mapped to `[]`."""
    path = Path(path)
    events: Events = {}
    for row, cells in _rows(path):
        name, onset, offset, label = _cells(path, row, cells, 4, "filename, onset, offset, event_label")
        file_events = events.setdefault(name, [])
        if not (onset or offset or label):
            continue
        if not (onset and offset and label):
            raise AnnotationError(path, row, "onset, offset and event_label must be all given or all empty")
        start, end = _number(path, row, onset, "onset"), _number(path, row, offset, "offset")
        if not 0 <= start <= end:
            raise AnnotationError(path, row, f"expected 0 <= onset <= offset, found onset {onset}, offset {offset}")
        file_events.append((start, end, label))
    return events


def read_durations(path: str | os.PathLike) -> dict[str, float]:
    path = Path(path)
    durations = {}
    for row, cells in _rows(path):
        name, duration = _cells(path, row, cells, 2, "filename, duration")
        value = _number(path, row, duration, "duration")
        if value < 0:
            raise AnnotationError(path, row, f"negative duration {duration}")
        durations[name] = value
    return durations


def read_threshold_tables(folder: str | os.PathLike) -> dict[float, tuple[Path, Events]]:
    """The `predictions_th_<threshold>.tsv` tables of a folder, by threshold."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileError(folder, "expected a folder of predictions_th_<threshold>.tsv files")
    tables = {
        float(match.group(1)): (path, read_strong(path))
        for path in sorted(folder.iterdir())
        if (match := THRESHOLD_FILE.fullmatch(path.name))
    }
    if not tables:
        raise FileError(folder, "no predictions_th_<threshold>.tsv files")
    return dict(sorted(tables.items()))


@dataclasses.dataclass(frozen=True)
class ScoreTable:
    """One clip's frame scores: segment `onsets` and `offsets` `[frames]` (seconds), `scores` `[frames, classes]`."""

    path: Path
    header_row: int
    classes: tuple[str, ...]
    onsets: np.ndarray
    offsets: np.ndarray
    scores: np.ndarray

    def detections(self, thresholds: Sequence[float]) -> list[list[tuple[float, float, str]]]:
        """Per threshold, the events where a class's score is above it, as the DCASE 2022/2023 baselines decode them.

        A class is active in a segment whose score is > the threshold; each run
        of active segments is one event from the onset of its first segment to
        the offset of its last. Events come by class, then by time.
        """
        active = self.scores.T[None, :, :] > np.asarray(thresholds, dtype=np.float64)[:, None, None]
        # Edges of the runs: a start where a segment turns active, a stop one past the last active segment.
        which, label, frame = np.nonzero(np.diff(active, axis=2, prepend=False, append=False))
        out: list[list[tuple[float, float, str]]] = [[] for _ in thresholds]
        onsets, offsets = self.onsets[frame[0::2]].tolist(), self.offsets[frame[1::2] - 1].tolist()
        for index, class_index, onset, offset in zip(which[0::2].tolist(), label[0::2].tolist(), onsets, offsets):
            out[index].append((onset, offset, self.classes[class_index]))
        return out


def read_score_table(path: str | os.PathLike, labels: Sequence[str] | None = None) -> ScoreTable:
    """A sed_scores_eval score table (module docstring); with `labels`, every class column must be one of them."""
    path = Path(path)
    rows = _lines(path)
    if not rows:
        raise FileError(path, f"empty score table; expected a header '{SCORE_TABLE_HEADER}' and one row per frame segment")
    (header_row, header), rows = rows[0], rows[1:]
    classes = header[2:]
    if len(header) < 3 or [cell.lower() for cell in header[:2]] != ["onset", "offset"] or not all(classes):
        found = "\t".join(header)
        raise AnnotationError(path, header_row, f"expected a header '{SCORE_TABLE_HEADER}', found {found!r}")
    repeated = [name for position, name in enumerate(classes) if name in classes[:position]]
    if repeated:
        raise AnnotationError(path, header_row, f"class {repeated[0]!r} has two columns")
    if labels is not None:
        unknown = [name for name in classes if name not in labels]
        if unknown:
            raise AnnotationError(path, header_row, f"class {unknown[0]!r} is not one of {sorted(labels)}")
    if not rows:
        raise AnnotationError(path, header_row, "no frame segments after the header")
    values = []
    previous_offset = None
    for row, cells in rows:
        if len(cells) != len(header) and not (len(cells) > len(header) and not any(cells[len(header):])):
            raise AnnotationError(
                path, row, f"expected {len(header)} columns (onset, offset and a score per class), found {len(cells)}"
            )
        onset, offset = _number(path, row, cells[0], "onset"), _number(path, row, cells[1], "offset")
        if previous_offset is None and onset < 0:
            raise AnnotationError(path, row, f"negative onset {cells[0]}")
        if previous_offset is not None and onset != previous_offset:
            raise AnnotationError(
                path, row, f"onset {cells[0]} is not the previous row's offset {previous_offset}: segments must be contiguous, in time order"
            )
        if not onset < offset:
            raise AnnotationError(path, row, f"expected onset < offset, found onset {cells[0]}, offset {cells[1]}")
        previous_offset = offset
        values.append([onset, offset, *(_number(path, row, cell, f"{name} score") for name, cell in zip(classes, cells[2:]))])
    table = np.array(values, dtype=np.float64)
    return ScoreTable(path, header_row, tuple(classes), table[:, 0], table[:, 1], table[:, 2:])


def _clip_id(filename: str) -> str:
    # sed_scores_eval's audio id: the file name without its extension.
    return filename.rsplit(".", 1)[0]


def read_score_tables(
    folder: str | os.PathLike, reference: Mapping[str, object], labels: Sequence[str] | None = None
) -> dict[str, ScoreTable]:
    """`{reference filename: ScoreTable}` from a folder of `<clip_id>.tsv` score tables, one per reference file."""
    folder = Path(folder)
    names = {}
    for name in reference:
        other = names.setdefault(_clip_id(name), name)
        if other != name:
            raise ConfigError(f"reference files {other!r} and {name!r} have one clip id, so one score table cannot tell them apart")
    tables = {}
    for path in sorted(folder.iterdir()):
        if path.suffix.lower() != ".tsv" or not path.is_file():
            continue
        if path.stem not in names:
            raise FileError(path, f"clip {path.stem!r} is not in the reference")
        tables[names[path.stem]] = read_score_table(path, labels)
    if not tables:
        raise FileError(folder, "no predictions_th_<threshold>.tsv files and no <clip_id>.tsv score tables")
    missing = [name for name in reference if name not in tables]
    if missing:
        raise FileError(folder, f"no score table for {len(missing)} reference files, e.g. {_clip_id(missing[0])}.tsv for {missing[0]!r}")
    first = next(iter(tables.values()))
    for table in tables.values():
        if table.classes != first.classes:
            raise AnnotationError(table.path, table.header_row, f"classes {list(table.classes)} differ from {list(first.classes)} of {first.path.name}")
    return tables


def read_scores_folder(
    folder: str | os.PathLike, reference: Mapping[str, object], labels: Sequence[str] | None = None
) -> dict[float, Events]:
    """Detections per threshold from `folder`: its `predictions_th_<threshold>.tsv` tables if it has any, else the
    detections of its score tables at psds_eval's 50 operating points `PSDS_THRESHOLDS` (0.01, 0.03 ... 0.99)."""
    from seld_tf.metrics.psds import PSDS_THRESHOLDS

    folder = Path(folder)
    if not folder.is_dir():
        raise FileError(folder, "expected a folder of predictions_th_<threshold>.tsv files or of <clip_id>.tsv score tables")
    if any(THRESHOLD_FILE.fullmatch(path.name) for path in folder.iterdir()):
        tables = {}
        for threshold, (path, table) in read_threshold_tables(folder).items():
            _check_files(path, table, reference)
            tables[threshold] = table
        return tables
    thresholds = [float(threshold) for threshold in PSDS_THRESHOLDS]
    detections: dict[float, Events] = {threshold: {} for threshold in thresholds}
    for name, table in read_score_tables(folder, reference, labels).items():
        for threshold, events in zip(thresholds, table.detections(thresholds)):
            detections[threshold][name] = events
    return detections


def _check_files(path: Path, predicted: Mapping[str, object], reference: Mapping[str, object]) -> None:
    unknown = [name for name in predicted if name not in reference]
    if unknown:
        row = next(number for number, cells in _rows(path) if cells[0] == unknown[0])
        raise AnnotationError(path, row, f"file {unknown[0]!r} is not in the reference")


def _check_labels(path: Path, events: Events, labels: Sequence[str]) -> None:
    known = set(labels)
    for name, file_events in events.items():
        for _, _, label in file_events:
            if label not in known:
                row = next(n for n, cells in _rows(path) if cells[0] == name and len(cells) > 3 and cells[3] == label)
                raise AnnotationError(path, row, f"event label {label!r} is not one of {sorted(known)}")


def _finite_or_none(value: float) -> float | None:
    # JSON has no NaN; null says "undefined" (e.g. a macro average over no class).
    return None if math.isnan(value) else float(value)


def score_sed(
    ref: str | os.PathLike,
    pred: str | os.PathLike,
    *,
    durations: str | os.PathLike | None = None,
    scores: str | os.PathLike | None = None,
    labels: Sequence[str] | None = None,
    t_collar: float = 0.2,
    percentage_of_length: float = 0.2,
    time_resolution: float = 1.0,
    empty_system_output_handling: str | None = "zero_score",
) -> dict[str, float | None]:
    """Event- and segment-based F1 / ER (sed_eval), and PSDS1, PSDS2 and
    intersection F1 (psds_eval) when `scores` names a folder of per-threshold
    tables or of score tables (`read_scores_folder`).

    Defaults are DCASE 2022 task 4's: collar 0.2 s, offset tolerance 20 % of
    the event, 1 s segments, and "zero_score" for the event-based metrics (a
    class with references and no output scores F = 0 instead of dropping out
    of the macro average); the segment-based metrics keep sed_eval's default,
    as DESED_task does. Intersection F1 scores the `pred` table.
    """
    from seld_tf.metrics.psds import intersection_f1, psds1, psds2
    from seld_tf.metrics.sed import event_based_metrics, segment_based_metrics

    ref, pred = Path(ref), Path(pred)
    reference = read_strong(ref)
    estimated = read_strong(pred)
    _check_files(pred, estimated, reference)
    if labels is None:
        labels = sorted({label for events in reference.values() for _, _, label in events})
    else:
        _check_labels(ref, reference, labels)
    _check_labels(pred, estimated, labels)
    estimated = {name: estimated.get(name, []) for name in reference}
    lengths = read_durations(durations) if durations is not None else None
    if lengths is not None:
        missing = [name for name in reference if name not in lengths]
        if missing:
            raise FileError(durations, f"no duration for {len(missing)} reference files, e.g. {missing[0]!r}")

    try:
        event = event_based_metrics(
            reference, estimated, labels, t_collar=t_collar, percentage_of_length=percentage_of_length,
            empty_system_output_handling=empty_system_output_handling,
        )
        segment = segment_based_metrics(reference, estimated, labels, time_resolution=time_resolution, durations=lengths)
    except ValueError as error:  # out-of-range collar, percentage or segment length
        raise ConfigError(str(error)) from None
    out = {
        "event_f1_macro": event["class_wise_average"]["f_measure"].get("f_measure", math.nan),
        "event_f1_micro": event["overall"]["f_measure"]["f_measure"],
        "event_er": event["overall"]["error_rate"]["error_rate"],
        "segment_f1_macro": segment["class_wise_average"]["f_measure"].get("f_measure", math.nan),
        "segment_f1_micro": segment["overall"]["f_measure"]["f_measure"],
        "segment_er": segment["overall"]["error_rate"]["error_rate"],
    }
    if scores is not None:
        if lengths is None:
            raise ConfigError("--scores needs --durations: PSDS counts false positives per hour of audio")
        tables = read_scores_folder(scores, reference, labels)
        lengths = {name: lengths[name] for name in reference}
        try:
            out["psds1"] = psds1(reference, tables, lengths)
            out["psds2"] = psds2(reference, tables, lengths)
            out["intersection_f1"] = intersection_f1(reference, estimated, lengths)[0]
        except ValueError as error:  # psds_eval's refusals: one class, same-class events intersecting
            raise FileError(scores, str(error)) from None
        out["psds_thresholds"] = len(tables)
    return {key: _finite_or_none(value) for key, value in out.items()}


def score_tagging(ref: str | os.PathLike, pred: str | os.PathLike) -> dict[str, float | None]:
    """`auc_macro`, `ap_micro`, `ap_macro` of clip scores against a weak TSV."""
    from seld_tf.metrics.tagging import ap_macro, ap_micro, auc_macro

    ref, pred = Path(ref), Path(pred)
    try:
        header = next(line for line in pred.read_text(encoding="utf-8-sig").splitlines() if line.strip()).split("\t")
    except (OSError, UnicodeDecodeError, StopIteration) as error:
        raise FileError(pred, f"expected a header 'filename<TAB>label...' ({error or 'empty file'})") from None
    labels = [cell.strip() for cell in header[1:]]
    if header[0].strip().lower() != "filename" or not labels or not all(labels):
        raise AnnotationError(pred, 1, "expected a header 'filename<TAB><label><TAB><label>...'")
    column = {label: index for index, label in enumerate(labels)}

    reference: dict[str, list[str]] = {}
    for row, cells in _rows(ref):
        name, text = _cells(ref, row, cells, 2, "filename, event_labels")
        names = [label.strip() for label in text.split(",") if label.strip()]
        unknown = [label for label in names if label not in column]
        if unknown:
            raise AnnotationError(ref, row, f"label {unknown[0]!r} is not a column of {pred}")
        reference[name] = names
    predicted: dict[str, list[float]] = {}
    for row, cells in _rows(pred):
        if len(cells) != len(labels) + 1:
            raise AnnotationError(pred, row, f"expected {len(labels) + 1} columns (filename and one score per label), found {len(cells)}")
        predicted[cells[0]] = [_number(pred, row, cell, "score") for cell in cells[1:]]
    _check_files(pred, predicted, reference)
    missing = [name for name in reference if name not in predicted]
    if missing:
        raise FileError(pred, f"no scores for {len(missing)} reference clips, e.g. {missing[0]!r}")

    y_true = np.zeros((len(reference), len(labels)))
    for index, names in enumerate(reference.values()):
        y_true[index, [column[label] for label in names]] = 1
    y_score = np.array([predicted[name] for name in reference]).reshape(y_true.shape)
    out = {"auc_macro": auc_macro(y_true, y_score), "ap_micro": ap_micro(y_true, y_score), "ap_macro": ap_macro(y_true, y_score)}
    return {key: _finite_or_none(value) for key, value in out.items()}


def score_scene(
    ref: str | os.PathLike, pred: str | os.PathLike, *, labels: Sequence[str] | None = None
) -> dict[str, float | None]:
    """`accuracy` and `f1_macro` (over every scene of the reference, or `labels`)."""
    from seld_tf.metrics.scene import scene_scores

    ref, pred = Path(ref), Path(pred)
    files = {}
    for path in (ref, pred):
        files[path] = {}
        for row, cells in _rows(path):
            name, scene = _cells(path, row, cells, 2, "filename, scene_label")
            if not scene:
                raise AnnotationError(path, row, "empty scene_label")
            files[path][name] = (row, scene)
    reference, predicted = files[ref], files[pred]
    scenes = list(labels) if labels is not None else sorted({scene for _, scene in reference.values()})
    index = {scene: number for number, scene in enumerate(scenes)}
    for path, table in files.items():
        for row, scene in table.values():
            if scene not in index:
                raise AnnotationError(path, row, f"scene {scene!r} is not one of {scenes}")
    _check_files(pred, predicted, reference)
    missing = [name for name in reference if name not in predicted]
    if missing:
        raise FileError(pred, f"no prediction for {len(missing)} reference clips, e.g. {missing[0]!r}")
    result = scene_scores(
        [index[reference[name][1]] for name in reference],
        [index[predicted[name][1]] for name in reference],
        num_classes=len(scenes),
    )
    return {"accuracy": _finite_or_none(result.accuracy), "f1_macro": _finite_or_none(result.macro_f)}
