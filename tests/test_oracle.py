"""Tests of `evaluation.oracle`: one task's predictions replaced by the reference (Table 2 of Cao et al. 2021)."""

import csv

import numpy as np
import pytest

from seld_tf.datasets.events import EventList
from seld_tf.errors import ConfigError
from seld_tf.tasks.seld import SeldEvaluator, decode_outputs, decode_with_oracle
from seld_tf.recipes import recipe_from_dict
from seld_tf.runs import evaluate_run
from seld_tf.training import train

# Unit vectors of a few directions (azimuth, elevation in degrees).
FRONT, LEFT, RIGHT = (1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, -1.0, 0.0)


def rows(events):
    return sorted((f, c, t, round(a, 6), round(e, 6)) for f, c, t, a, e in events.rows())


def test_classwise_doa_oracle_gives_detected_cells_the_reference_direction():
    activity = np.zeros((3, 4))
    activity[0, 1], activity[0, 2], activity[1, 1] = 0.9, 0.8, 0.7
    doa = np.broadcast_to(LEFT, (3, 4, 3))  # every predicted direction: azimuth 90
    reference = EventList.from_rows(
        [(0, 1, 0, 10.0, 5.0), (0, 1, 1, -120.0, 20.0), (1, 1, 0, 30.0, 0.0), (2, 3, 0, 0.0, 0.0)], num_frames=3
    )
    found = decode_with_oracle({"sed": activity, "doa": doa}, reference, "classwise", "doa")
    # Class 1 takes the reference direction (frame 0: its lowest track); class 2 in
    # frame 0 is a false positive and keeps its own; the missed class 3 stays missed.
    assert rows(found) == [(0, 1, 0, 10.0, 5.0), (0, 2, 0, 90.0, 0.0), (1, 1, 0, 30.0, 0.0)]


def test_trackwise_doa_oracle_gives_two_same_class_events_distinct_directions():
    activity = np.zeros((1, 2, 3))
    activity[0, :, 2] = 0.9  # both tracks: class 2
    doa = np.broadcast_to(FRONT, (1, 2, 3))
    reference = EventList.from_rows([(0, 2, 0, 10.0, 0.0), (0, 2, 1, 50.0, 0.0)], num_frames=1)
    found = decode_with_oracle({"sed": activity, "doa": doa}, reference, "trackwise", "doa")
    assert rows(found) == [(0, 2, 0, 10.0, 0.0), (0, 2, 1, 50.0, 0.0)]


def test_classwise_sed_oracle_reads_the_class_vector_at_each_reference_event():
    doa = np.zeros((2, 3, 3))
    doa[0, 1] = (0.0, 2.0, 0.0)  # any length: azimuth 90, elevation 0
    doa[1, 2] = (1.0, 0.0, 1.0)  # azimuth 0, elevation 45
    reference = EventList.from_rows([(0, 1, 0, 80.0, 0.0), (1, 2, 1, 0.0, 40.0)], num_frames=2)
    found = decode_with_oracle({"sed": np.zeros((2, 3)), "doa": doa}, reference, "classwise", "sed")
    assert rows(found) == [(0, 1, 0, 90.0, 0.0), (1, 2, 1, 0.0, 45.0)]


def test_trackwise_sed_oracle_pairs_reference_events_with_the_nearest_tracks():
    doa = np.array([[LEFT, FRONT], [RIGHT, FRONT]])  # [T=2, M=2, 3]
    reference = EventList.from_rows(
        [(0, 4, 0, 5.0, 0.0), (0, 7, 1, 80.0, 0.0), (1, 4, 0, -100.0, 0.0)], num_frames=2
    )
    found = decode_with_oracle({"sed": np.zeros((2, 2, 14)), "doa": doa}, reference, "trackwise", "sed")
    # Frame 0: pairing (5 deg -> track 1 at 0, 80 deg -> track 0 at 90) costs 5 + 10,
    # the identity 85 + 80. Frame 1: the single event takes the nearer track (-90 deg).
    assert rows(found) == [(0, 4, 0, 0.0, 0.0), (0, 7, 1, 90.0, 0.0), (1, 4, 0, -90.0, 0.0)]


def test_trackwise_sed_oracle_shares_tracks_when_events_outnumber_them():
    doa = np.array([[FRONT, LEFT]])
    reference = EventList.from_rows([(0, 0, 0, 0.0, 0.0), (0, 1, 1, 10.0, 0.0), (0, 2, 2, 90.0, 0.0)], num_frames=1)
    found = decode_with_oracle({"sed": np.zeros((1, 2, 3)), "doa": doa}, reference, "trackwise", "sed")
    assert rows(found) == [(0, 0, 0, 0.0, 0.0), (0, 1, 1, 0.0, 0.0), (0, 2, 2, 90.0, 0.0)]


def test_without_oracle_decoding_is_unchanged():
    activity = np.zeros((2, 2, 3))
    activity[1, 0, 1] = 0.8
    outputs = {"sed": activity, "doa": np.broadcast_to(LEFT, (2, 2, 3))}
    reference = EventList.from_rows([(1, 1, 0, 0.0, 0.0)], num_frames=2)
    assert decode_with_oracle(outputs, reference, "trackwise", None).equals(decode_outputs(outputs, "trackwise"))


def test_bad_oracles_are_config_errors():
    outputs = {"sed": np.zeros((1, 3)), "doa": np.zeros((1, 3, 3))}
    with pytest.raises(ConfigError, match="oracle"):
        decode_with_oracle(outputs, EventList.empty(1), "classwise", "both")
    with pytest.raises(ConfigError, match="reference"):
        decode_with_oracle(outputs, None, "classwise", "sed")
    with pytest.raises(ConfigError, match="oracle"):
        SeldEvaluator([], [], label_form="classwise", frames_per_label=5, oracle="SED")
    with pytest.raises(ConfigError, match="unlabelled"):
        SeldEvaluator([], None, label_form="classwise", frames_per_label=5, oracle="doa")


def test_recipe_oracle_defaults_to_none():
    assert recipe_from_dict({"name": "a"}).evaluation.oracle is None
    assert recipe_from_dict({"name": "a", "evaluation": {"oracle": "sed"}}).evaluation.oracle == "sed"


def test_training_and_evaluation_score_with_the_oracle(tiny_seld_dataset, tmp_path):
    """With the reference's SED, exactly the reference class-blocks are predicted and all are located:
    LR is exactly 1 whatever a one-epoch model's DOA, which its own SED would not reach."""
    recipe = recipe_from_dict(
        {
            "name": "tiny_oracle",
            "pipeline": {"train_frames": 50, "batch_size": 4},
            "model": {"name": "seldnet", "preset": None, "args": {"conv_filters": 8, "rnn_units": [8], "fc_units": 8}},
            "training": {"epochs": 1, "seed": 3},
            "evaluation": {"oracle": "sed"},
        }
    )
    run_dir = tmp_path / "run"
    train(recipe, tiny_seld_dataset, run_dir, verbose=0, progress=False, log=lambda *_: None)
    with open(run_dir / "history.csv", newline="") as handle:
        (epoch,) = list(csv.DictReader(handle))
    assert float(epoch["val_LR"]) == 1.0
    scores = evaluate_run(run_dir, tiny_seld_dataset, split="test", progress=False, log=lambda *_: None)
    assert scores["LR"] == 1.0
