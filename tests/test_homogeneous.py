"""Tests of seld_tf.studies.homogeneous: same-class overlaps, counted on hand-worked event lists."""

import json
import math
from collections import Counter

import numpy as np
import pytest

from seld_tf.datasets.dcase2020_seld import read_metadata
from seld_tf.datasets.events import EventList
from seld_tf.datasets.seld_labels import classwise_to_events, trackwise_to_events
from seld_tf.datasets.synth.seld import SeldSynthConfig
from seld_tf.studies.homogeneous import (
    HomogeneousOverlapScores,
    evaluate_homogeneous,
    score_homogeneous_overlaps,
    synthesize_homogeneous_test_set,
)
from seld_tf.recipes import recipe_from_dict
from seld_tf.training import train

# Frames 0-2 hold two events of class 3 (three cells); frame 3 two events of
# different classes (no cell).
REFERENCE = EventList.from_rows(
    [
        (0, 3, 0, 0.0, 0.0), (0, 3, 1, 90.0, 0.0),
        (1, 3, 0, 0.0, 0.0), (1, 3, 1, 90.0, 0.0),
        (2, 3, 0, 0.0, 0.0), (2, 3, 1, -90.0, 0.0),
        (3, 5, 0, 10.0, 0.0), (3, 6, 1, 20.0, 0.0),
    ],
    num_frames=4,
)
TRACKWISE = EventList.from_rows(
    [
        # Both found, in the other track order: 5 degrees off each under the best pairing.
        (0, 3, 0, 85.0, 0.0), (0, 3, 1, 5.0, 0.0),
        # Both found, but the best pairing (0 + 30 degrees) leaves one 30 degrees off.
        (1, 3, 0, 0.0, 0.0), (1, 3, 1, 60.0, 0.0),
        # One of the two only; the other track holds another class.
        (2, 3, 0, 0.0, 0.0), (2, 4, 1, -90.0, 0.0),
        (3, 5, 0, 10.0, 0.0), (3, 6, 1, 20.0, 0.0),
    ],
    num_frames=4,
)


def test_trackwise_prediction_counts_detected_and_localized_cells():
    scores = score_homogeneous_overlaps([REFERENCE], [TRACKWISE])
    assert scores == HomogeneousOverlapScores(cells=3, detected=2, localized=1)
    assert scores.detected_fraction == pytest.approx(2 / 3)
    assert scores.localized_fraction == pytest.approx(1 / 3)


def test_threshold_is_configurable():
    assert score_homogeneous_overlaps([REFERENCE], [TRACKWISE], doa_threshold=31.0).localized == 2
    assert score_homogeneous_overlaps([REFERENCE], [TRACKWISE], doa_threshold=4.9).localized == 0


def test_decoded_trackwise_output_can_hold_both_events():
    activity = np.zeros((4, 2, 14))
    activity[0, :, 3] = 0.9
    doa = np.zeros((4, 2, 3))
    doa[0] = [(0.0, 1.0, 0.0), (1.0, 0.0, 0.0)]  # azimuth 90 and 0: the frame-0 references
    prediction = trackwise_to_events(activity, doa)
    assert score_homogeneous_overlaps([REFERENCE], [prediction]) == HomogeneousOverlapScores(3, 1, 1)


def test_classwise_output_never_detects_a_homogeneous_overlap():
    # Class 3 active in frames 0-2, pointing exactly at one of the two references.
    activity = np.zeros((4, 14))
    activity[:3, 3] = 0.9
    doa = np.zeros((4, 14, 3))
    doa[:3, 3] = (1.0, 0.0, 0.0)
    prediction = classwise_to_events(activity, doa)
    assert score_homogeneous_overlaps([REFERENCE], [prediction]) == HomogeneousOverlapScores(3, 0, 0)


def test_counts_add_over_clips_and_empty_sets_have_no_fractions():
    scores = score_homogeneous_overlaps([REFERENCE, REFERENCE], [TRACKWISE, EventList.empty(4)])
    assert scores == HomogeneousOverlapScores(cells=6, detected=2, localized=1)
    empty = score_homogeneous_overlaps([EventList.empty(4)], [TRACKWISE])
    assert empty.cells == 0 and math.isnan(empty.detected_fraction) and math.isnan(empty.localized_fraction)
    with pytest.raises(ValueError, match="1 reference"):
        score_homogeneous_overlaps([REFERENCE], [])


def homogeneous_cells(events):
    """(frame, class) cells with two or more events: an independent count."""
    return sum(count >= 2 for count in Counter(zip(events.frame, events.cls)).values())


@pytest.fixture(scope="module")
def homogeneous_set(tmp_path_factory):
    root = tmp_path_factory.mktemp("homogeneous")
    synthesize_homogeneous_test_set(root, SeldSynthConfig(num_clips=2, duration=4.0, seed=11, folds=(1,)))
    return root


def test_test_set_is_all_ov2_with_same_class_overlaps(homogeneous_set):
    written = json.loads((homogeneous_set / "synth_config.json").read_text())["config"]
    assert written["overlaps"] == [2] and written["homogeneous_overlap_probability"] == 1.0
    assert written["seed"] == 11 and written["folds"] == [1]
    names = sorted(path.stem for path in (homogeneous_set / "foa_dev").glob("*.wav"))
    assert names == ["fold1_room1_mix001_ov2", "fold1_room2_mix002_ov2"]
    cells = [homogeneous_cells(read_metadata(homogeneous_set / "metadata_dev" / f"{name}.csv")) for name in names]
    assert sum(cells) > 0


def test_evaluate_homogeneous_scores_a_run_on_every_clip(homogeneous_set, tiny_seld_dataset, tmp_path):
    recipe = recipe_from_dict(
        {
            "name": "tiny_classwise",
            "pipeline": {"train_frames": 50, "batch_size": 4},
            "model": {"name": "seldnet", "preset": None, "args": {"conv_filters": 8, "rnn_units": [8], "fc_units": 8}},
            "training": {"epochs": 1, "seed": 3},
        }
    )
    run_dir = tmp_path / "run"
    train(recipe, tiny_seld_dataset, run_dir, verbose=0, progress=False, log=lambda *_: None)
    before = sorted(path.name for path in run_dir.iterdir())

    scores, counts = evaluate_homogeneous(run_dir, homogeneous_set, cache_dir=tmp_path / "cache")

    expected_cells = sum(
        homogeneous_cells(read_metadata(path)) for path in (homogeneous_set / "metadata_dev").glob("*.csv")
    )
    assert counts.cells == expected_cells > 0
    assert counts.detected == 0  # a class-wise model
    assert set(scores) >= {"ER", "F", "LE", "LR", "SELD"}
    assert sorted(path.name for path in run_dir.iterdir()) == before
