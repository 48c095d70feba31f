"""Scoring an output folder against a metadata folder, without TensorFlow.

`seld-tf score` runs this module and what it imports (numpy, the DCASE2020
readers, the metric), so that scoring a folder takes a fraction of a second and
of the memory that importing TensorFlow alone would.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Iterable, Iterator

from seld_tf.datasets.dcase2020_seld import CLASS_NAMES, read_metadata_files, read_output_files
from seld_tf.datasets.events import EventList
from seld_tf.errors import ConfigError
from seld_tf.metrics.seld import Dcase2020SeldMetric, SeldScores

_FOLD_PREFIX = re.compile(r"fold(\d+)_")
# Files read per call: many for numpy's per-call cost to matter little, few for memory.
_FILES_PER_READ = 32


def score_folders(
    reference_dir: str | os.PathLike,
    prediction_dir: str | os.PathLike,
    *,
    coordinates: str | None = None,
    num_classes: int = len(CLASS_NAMES),
    folds: Iterable[int] | None = None,
) -> SeldScores:
    """DCASE2020 SELD scores of every prediction CSV against the metadata CSV of the same name.

    Args:
        reference_dir: metadata folder.
        prediction_dir: output folder, one CSV per reference scored.
        coordinates: the outputs' form, "polar" or "cartesian"; None accepts both.
        num_classes: classes of the metric.
        folds: when given, only the references of these folds are scored:
            those whose names start with `fold<N>_`, as DCASE2020 development
            files do (`metadata_dev` holds all six folds, a run's outputs one
            split).

    A reference scored without a prediction, or a prediction without such a
    reference, is an error: scoring a missing file as empty would hide a
    broken run.

    Raises:
        ConfigError: a folder is missing, holds no reference to score, or the files do not pair up.
        AnnotationError: a CSV is malformed.
    """
    references = _csv_stems(reference_dir)
    scope = ""
    if folds is not None:
        folds = sorted(set(folds))
        references = {stem: path for stem, path in references.items() if _fold(stem) in folds}
        scope = f" of folds {','.join(map(str, folds))}"
    predictions = _csv_stems(prediction_dir)
    missing = sorted(references.keys() - predictions.keys())
    extra = sorted(predictions.keys() - references.keys())
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"{len(missing)} reference file(s){scope} without a prediction in {prediction_dir}: {missing[:5]}")
        if extra:
            parts.append(f"{len(extra)} prediction file(s) without a reference{scope} in {reference_dir}: {extra[:5]}")
        raise ConfigError("; ".join(parts))
    if not references:
        raise ConfigError(f"no CSV files{scope} in {reference_dir}")
    metric = Dcase2020SeldMetric(num_classes)
    metric.update_many(_read_pairs(references, predictions, num_classes, coordinates))
    return metric.result()


def _read_pairs(
    references: dict[str, Path], predictions: dict[str, Path], num_classes: int, coordinates: str | None
) -> Iterator[tuple[EventList, EventList]]:
    """(reference, prediction) event lists in name order, read `_FILES_PER_READ` files at a time."""
    stems = sorted(references)
    for start in range(0, len(stems), _FILES_PER_READ):
        chunk = stems[start : start + _FILES_PER_READ]
        yield from zip(
            read_metadata_files([references[stem] for stem in chunk], num_classes=num_classes),
            read_output_files([predictions[stem] for stem in chunk], num_classes=num_classes, coordinates=coordinates),
        )


def _fold(stem: str) -> int | None:
    match = _FOLD_PREFIX.match(stem)
    return int(match.group(1)) if match else None


def _csv_stems(directory: str | os.PathLike) -> dict[str, Path]:
    directory = Path(directory)
    if not directory.is_dir():
        raise ConfigError(f"expected a folder of CSV files, found no folder {directory}")
    return {path.stem: path for path in directory.glob("*.csv")}
