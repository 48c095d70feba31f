"""Run-folder consistency rules, on hand-made folders (no training)."""

import csv
import json
import math

import pytest

from seld_tf.errors import RunError
from seld_tf.runs import RunFolder, evaluate_run, evaluation_paths, load_history, load_run

FIELDS = ["epoch", "loss", "val_seld"]


def make_run(tmp_path, rows, committed=None, files=()):
    run = RunFolder(tmp_path / "run")
    run.path.mkdir()
    with open(run.history, "w", newline="") as handle:
        handle.write(",".join(FIELDS) + "\n")
        for row in rows:
            handle.write(row + "\n")
    if committed is not None:
        run.backup.mkdir()
        run.backup_metadata.write_text(json.dumps({"epoch": committed, "batch": 0}))
    for name, text in files:
        (run.path / name).write_text(text)
    return run


def epochs(run):
    with open(run.history, newline="") as handle:
        return [int(row["epoch"]) for row in csv.DictReader(handle)]


def test_prepare_drops_rows_and_candidates_of_uncommitted_epochs(tmp_path):
    run = make_run(
        tmp_path,
        ["0,1.0,0.9", "1,0.8,0.7", "2,0.7,0.4", "3,0.6,0.3"],
        committed=3,
        files=[("best.keras", "epoch 2"), ("best.e4.pending.keras", "epoch 4"), ("best.partial.keras", "cut")],
    )
    assert run.prepare("val_seld", "min") == pytest.approx(0.4)
    assert epochs(run) == [0, 1, 2]
    assert run.best.read_text() == "epoch 2"
    assert sorted(p.name for p in run.path.glob("best*")) == ["best.keras"]


def test_prepare_promotes_a_candidate_the_backup_recorded(tmp_path):
    # Killed after the backup recorded epoch 3, before its candidate was promoted.
    run = make_run(
        tmp_path, ["0,1.0,0.9", "1,0.8,0.7", "2,0.7,0.4"], committed=3,
        files=[("best.keras", "epoch 2"), ("best.e3.pending.keras", "epoch 3")],
    )
    assert run.prepare("val_seld", "min") == pytest.approx(0.4)
    assert run.best.read_text() == "epoch 3"


def test_prepare_respects_the_monitor_mode_and_skips_non_finite_scores(tmp_path):
    run = make_run(tmp_path, ["0,1.0,0.2", "1,0.8,nan", "2,0.7,0.6"], committed=3)
    assert run.prepare("val_seld", "max") == pytest.approx(0.6)
    assert run.prepare("val_seld", "min") == pytest.approx(0.2)


def test_a_row_cut_short_by_a_kill_is_dropped(tmp_path):
    run = make_run(tmp_path, ["0,1.0,0.9", "1,0.8,0.7", "2,0.7"], committed=2)
    assert run.prepare("val_seld", "min") == pytest.approx(0.7)
    assert epochs(run) == [0, 1]


def test_without_a_committed_epoch_the_run_starts_from_scratch(tmp_path):
    # E.g. the backup folder was deleted by hand: the run is not finished, so it restarts.
    run = make_run(tmp_path, ["0,1.0,0.9"], files=[("best.keras", "stale")])
    assert run.prepare("val_seld", "min") is None
    assert not run.best.exists() and not run.history.exists()


def test_a_finished_run_is_refused_and_only_the_marker_says_finished(tmp_path):
    run = make_run(tmp_path, ["0,1.0,0.9"], committed=1, files=[("best.keras", "x")])
    assert not run.finished
    run.mark_finished({"epochs": 1})
    assert run.finished and not run.backup.exists()
    # A kill after the marker loses nothing: every epoch counts as committed.
    assert run.committed_epochs() == 1
    with pytest.raises(RunError, match="holds a finished run"):
        run.prepare("val_seld", "min")


def test_an_unreadable_backup_record_names_the_file(tmp_path):
    run = make_run(tmp_path, [], committed=1)
    run.backup_metadata.write_text('{"epo')
    with pytest.raises(RunError, match=r"training_metadata.json: unreadable backup record.*delete"):
        run.prepare("val_seld", "min")


def test_the_best_and_the_last_model_have_their_own_output_and_metrics_paths(tmp_path):
    run = make_run(tmp_path, ["0,1.0,0.9"], committed=1, files=[("best.keras", "x"), ("recipe.yaml", "x"), ("run.json", "{}")])
    assert evaluation_paths(run.path, "test") == (run.path / "outputs" / "test", run.path / "metrics_test.json")
    assert evaluation_paths(run.path, "validation", "last") == (
        run.path / "outputs" / "validation_last", run.path / "metrics_validation_last.json"
    )
    # last.keras is written when the run finishes; an unknown model is refused before anything is read.
    with pytest.raises(RunError, match=r"has no last.keras: the last model is written when the run finishes"):
        load_run(run.path, which="last")
    with pytest.raises(RunError, match=r"expected one of \['best', 'last'\], found 'final'"):
        evaluate_run(run.path, tmp_path, which="final")


def test_load_history_reads_epochs_without_validation_as_nan(tmp_path):
    # CSVLogger writes "NA" for a key an epoch did not log (validation every other epoch).
    (tmp_path / "history.csv").write_text("epoch,loss,val_F\n0,0.5,0.25\n1,0.4,NA\n2,0.3,\n")
    history = load_history(tmp_path)
    assert history["loss"] == [0.5, 0.4, 0.3]
    assert history["val_F"][0] == 0.25 and math.isnan(history["val_F"][1]) and math.isnan(history["val_F"][2])
