"""Homogeneous overlap: two events of the same class at the same time.

Cao et al. (2021), Section 3.2, motivate the trackwise output format by it: a
class-wise (SELDnet-format) output has one activity and one direction per
class and frame, so it cannot report a dog barking on the left and another on
the right at once; each track of a trackwise output holds its own event, so
two tracks can hold the same class. DCASE2020 holds such overlaps, but its
metric counts a class once per one-second block and pairs the predicted
directions with the references, so a missing second event barely shows in
its scores. This module measures them directly:

- `synthesize_homogeneous_test_set` writes a test set (DCASE2020 layout) in
  which every clip has two voices and every event that overlaps another takes
  its class;
- `score_homogeneous_overlaps` counts the (frame, class) cells where the
  reference holds two events of the class and how many of them a system
  detects twice and localises twice;
- `evaluate_homogeneous` runs a trained model (a run folder) on such a set.
"""

from __future__ import annotations

import dataclasses
import math
import os
from typing import Sequence

import numpy as np
from scipy.optimize import linear_sum_assignment

from seld_tf.datasets.dcase2020_seld import Dcase2020Dataset
from seld_tf.datasets.events import EventList, angular_distance
from seld_tf.datasets.synth.seld import SeldSynthConfig, synthesize_seld_dataset
from seld_tf.metrics.seld import DOA_THRESHOLD


def homogeneous_overlap_config(config: SeldSynthConfig) -> SeldSynthConfig:
    """`config` with every clip of polyphony two (ov2) and every overlapping event of the class it overlaps most."""
    return dataclasses.replace(config, overlaps=(2,), homogeneous_overlap_probability=1.0)


def synthesize_homogeneous_test_set(
    out_dir: str | os.PathLike, config: SeldSynthConfig, formats: Sequence[str] = ("foa",), progress: bool = False
) -> dict:
    """Write the homogeneous-overlap version of `config`'s dataset (`homogeneous_overlap_config`) to `out_dir`.

    Every other scene parameter is `config`'s, so the set differs from a
    training set drawn from the same config only in its overlaps. Give it
    another `seed` than the training set's so that its scenes and rooms are
    new. Returns the summary of `synthesize_seld_dataset`.
    """
    return synthesize_seld_dataset(out_dir, homogeneous_overlap_config(config), formats=formats, progress=progress)


@dataclasses.dataclass(frozen=True)
class HomogeneousOverlapScores:
    """Counts of (frame, class) cells where the reference holds two or more events of the class.

    Attributes:
        cells: such cells.
        detected: of those, the cells where the prediction holds at least as
            many events of the class in that frame.
        localized: of the detected cells, those where every reference event
            is within the DOA threshold of its predicted event under the best
            pairing (least total angular distance, the Hungarian matching the
            DCASE metric uses for same-class events).
    """

    cells: int
    detected: int
    localized: int

    @property
    def detected_fraction(self) -> float:
        """`detected / cells`; NaN without such cells."""
        return self.detected / self.cells if self.cells else math.nan

    @property
    def localized_fraction(self) -> float:
        """`localized / cells`; NaN without such cells."""
        return self.localized / self.cells if self.cells else math.nan

    def to_dict(self) -> dict[str, float]:
        return {
            "cells": self.cells,
            "detected": self.detected,
            "localized": self.localized,
            "detected_fraction": self.detected_fraction,
            "localized_fraction": self.localized_fraction,
        }


def score_homogeneous_overlaps(
    references: Sequence[EventList], predictions: Sequence[EventList], doa_threshold: float = DOA_THRESHOLD
) -> HomogeneousOverlapScores:
    """How often a system reports both events of a same-class overlap, and where they are.

    For every (frame, class) cell where a reference holds two events of the
    class (two or more in general; DCASE2020 and the synthesizer have at most
    two events at once), the cell is *detected* if the prediction holds at
    least as many events of that class in that frame, and *localized* if
    moreover each reference event is within `doa_threshold` degrees of its
    predicted event under the best pairing.

    A class-wise (SELDnet-format) output can never be detected here: it has
    one activity and one direction per class and frame, so it decodes to at
    most one event per (frame, class) cell, never two. Its `detected` and
    `localized` are 0 whatever its quality; the DCASE2020 metric hides this,
    as it counts a class once per block and scores one of the two
    directions. A trackwise output can put the class on two tracks.

    Args:
        references: the reference event list of each clip.
        predictions: the predicted event list of each clip, in the same order.
        doa_threshold: degrees.

    Raises:
        ValueError: the two sequences differ in length.
    """
    if len(references) != len(predictions):
        raise ValueError(f"{len(references)} reference event lists but {len(predictions)} predicted ones")
    cells = detected = localized = 0
    for reference, prediction in zip(references, predictions):
        predicted_rows = _rows_by_cell(prediction)
        for cell, rows in _rows_by_cell(reference).items():
            if len(rows) < 2:
                continue
            cells += 1
            candidates = predicted_rows.get(cell, [])
            if len(candidates) < len(rows):
                continue
            detected += 1
            distance = angular_distance(
                reference.azimuth[rows, None],
                reference.elevation[rows, None],
                prediction.azimuth[candidates][None, :],
                prediction.elevation[candidates][None, :],
            )
            paired_rows, paired_columns = linear_sum_assignment(distance)
            localized += bool(np.all(distance[paired_rows, paired_columns] <= doa_threshold))
    return HomogeneousOverlapScores(cells, detected, localized)


def _rows_by_cell(events: EventList) -> dict[tuple[int, int], list[int]]:
    """Row indices of `events` grouped by (frame, class)."""
    cells: dict[tuple[int, int], list[int]] = {}
    for row, cell in enumerate(zip(events.frame.tolist(), events.cls.tolist())):
        cells.setdefault(cell, []).append(row)
    return cells


def evaluate_homogeneous(run_dir, data_dir, cache_dir=None) -> tuple[dict, HomogeneousOverlapScores]:
    """DCASE2020 scores and homogeneous-overlap counts of a run's best snapshot on every clip of `data_dir`.

    `data_dir` is a homogeneous-overlap set (`synthesize_homogeneous_test_set`),
    predicted as the run's recipe predicts its test folds. Features are cached
    in `cache_dir` (default: inside `data_dir`). Nothing is written to the run
    folder, so its own test outputs stay as they are.

    Returns:
        `(scores, counts)`: the `SeldScores.to_dict()` of the set and its
        `HomogeneousOverlapScores`.
    """
    # Imported here: they import the whole trainer (Keras, the model registry).
    from seld_tf.runs import load_run
    from seld_tf.tasks import prepare_task

    recipe, _, model = load_run(run_dir)
    folds = sorted({clip.fold for clip in Dcase2020Dataset(data_dir, recipe.data.format).clips("dev")})
    # Every clip is a test clip. Preparing the data also fits a feature scaler
    # on the "training" folds, here the same clips; it stays in this set's
    # cache and is never used: the model normalises with the training
    # scaler it carries as its first layer.
    recipe = recipe.replace(data={"train_folds": folds, "validation_folds": folds, "test_folds": folds})
    evaluator = prepare_task(recipe, data_dir, cache_dir, progress=False, log=lambda *_: None).evaluator("test")
    result = evaluator.evaluate(model, with_losses=False)
    predictions = [result.predictions[clip.name] for clip in evaluator.clips]
    return result.scores.to_dict(), score_homogeneous_overlaps(evaluator.references, predictions)
