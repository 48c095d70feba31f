"""Run folders: what a training run leaves on disk, and how a killed run is resumed.

A run folder holds::

    recipe.yaml, run.json           the resolved recipe and data record
    history.csv                     one row per committed epoch (and at most one uncommitted)
    best.keras                      best snapshot by the monitored validation score
    best.e<N>.pending.keras         a complete candidate snapshot of epoch N, not yet committed
    backup/                         the training state after the last committed epoch
    last.keras                      the model after the last epoch
    finished.json                   written last: the run is finished

An epoch is committed when the backup records it (`backup/training_metadata.json`,
written atomically after the weights). Until then its best-snapshot candidate
stays pending, so `best.keras` only ever holds a complete model of a committed
epoch, whose row is in `history.csv`. A killed run resumes from the backup; on
resume, rows and candidates of epochs the backup has not recorded are dropped
and a candidate it has recorded is promoted. Every file is written under a
temporary name and renamed when complete, in the call that wrote it.

In multi-worker training only the chief writes the run folder; the other
workers write a scratch copy of it (`RunFolder.worker_copy`).
"""

from __future__ import annotations

import contextlib
import csv
import json
import math
import os
import re
import shutil
from pathlib import Path

from seld_tf.errors import RunError
from seld_tf.faults import kill_point
from seld_tf.fileio import atomic_open, write_json

_PENDING = re.compile(r"^best\.e(\d+)\.pending\.keras$")
# The models of a run that `load_run` and `evaluate_run` read: best.keras, last.keras.
SNAPSHOTS = ("best", "last")


class RunFolder:
    """The files of one run folder and the rules that keep them consistent."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.best = self.path / "best.keras"
        self.best_partial = self.path / "best.partial.keras"
        self.last = self.path / "last.keras"
        self.history = self.path / "history.csv"
        self.backup = self.path / "backup"
        self.backup_metadata = self.backup / "training_metadata.json"
        self.finished_marker = self.path / "finished.json"

    def pending_best(self, epochs: int) -> Path:
        """Where the best-snapshot candidate written after `epochs` epochs waits for its commit."""
        return self.path / f"best.e{epochs}.pending.keras"

    @property
    def finished(self) -> bool:
        return self.finished_marker.exists()

    def committed_epochs(self) -> int:
        """Epochs the backup has recorded (all of them once the run is finished): 0 when there is no backup."""
        if self.finished:
            # The backup is removed once the marker is written; the marker holds the count.
            return int(json.loads(self.finished_marker.read_text(encoding="utf-8"))["epochs"])
        if not self.backup_metadata.exists():
            return 0
        try:
            return int(json.loads(self.backup_metadata.read_text(encoding="utf-8"))["epoch"])
        except (ValueError, KeyError, TypeError) as error:
            raise RunError(
                f"{self.backup_metadata}: unreadable backup record ({error}); delete {self.backup} to restart the run"
            ) from None

    def commit(self) -> None:
        """Promote the newest candidate snapshot whose epoch the backup has recorded; drop the others."""
        committed = self.committed_epochs()
        candidates = sorted(
            (int(match.group(1)), self.path / match.group(0))
            for match in map(_PENDING.match, os.listdir(self.path))
            if match
        )
        promoted = [path for epochs, path in candidates if epochs <= committed]
        for path in [path for epochs, path in candidates if epochs > committed] + promoted[:-1]:
            path.unlink()
        if promoted:
            os.replace(promoted[-1], self.best)

    def prepare(self, monitor: str, mode: str) -> float | None:
        """Make the folder consistent with its backup before `fit` starts or resumes.

        Returns the best `monitor` score of the committed epochs (None when
        there are none), for the best-snapshot callback to start from.

        Raises:
            RunError: the run is finished (a new run needs another folder).
        """
        if self.finished:
            raise RunError(f"{self.path} holds a finished run; choose another --out")
        self.path.mkdir(parents=True, exist_ok=True)
        self.best_partial.unlink(missing_ok=True)
        self.commit()
        committed = self.committed_epochs()
        if committed == 0:
            # Nothing of an earlier attempt was committed: start from scratch.
            self.best.unlink(missing_ok=True)
            self.history.unlink(missing_ok=True)
            return None
        rows = self._committed_history(committed)
        scores = [float(row[monitor]) for row in rows if row.get(monitor) not in (None, "")]
        finite = [score for score in scores if math.isfinite(score)]
        if not finite:
            return None
        return min(finite) if mode == "min" else max(finite)

    def _committed_history(self, committed: int) -> list[dict]:
        """Rewrite `history.csv` with the rows of committed epochs only; return them."""
        if not self.history.exists():
            return []
        with open(self.history, newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            fields = reader.fieldnames or []
            rows = [row for row in reader if _epoch(row) is not None and _epoch(row) < committed]
        with atomic_open(self.history, "w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fields)
            writer.writeheader()
            writer.writerows(rows)
        return rows

    def worker_copy(self, scratch: str | os.PathLike) -> "RunFolder":
        """A run folder at `scratch` with this one's backup and history, for a worker that must
        not write this one (a non-chief worker of multi-worker training).

        From the copy it resumes at the chief's epoch, from the chief's weights, and
        `prepare` finds the chief's best score. The chief leaves the backup untouched until
        its first epoch ends, which needs every worker, so the copy is never torn. It may
        meanwhile rewrite the history (whole, by a rename) or delete it (no epoch
        committed): either way the copy holds the same committed rows.
        """
        copy = RunFolder(scratch)
        copy.path.mkdir(parents=True, exist_ok=True)
        if self.backup.exists():
            shutil.copytree(self.backup, copy.backup)
        with contextlib.suppress(FileNotFoundError):
            shutil.copyfile(self.history, copy.history)
        return copy

    def mark_finished(self, summary: dict) -> None:
        """Write the finished marker (last of all files), then drop the backup."""
        kill_point("finish")
        write_json(self.finished_marker, summary)
        shutil.rmtree(self.backup, ignore_errors=True)


def _epoch(row: dict) -> int | None:
    """The row's epoch, or None for a row cut short by a kill."""
    try:
        return int(row.get("epoch") or "")
    except ValueError:
        return None


def load_run(run_dir, which: str = "best"):
    """`(recipe, run record, model)` of a finished (or running) run: its best snapshot, or with
    `which="last"` the model after its last epoch (written when the run finishes)."""
    from seld_tf.recipes import load_recipe
    from seld_tf.saving import load_model

    run = RunFolder(run_dir)
    model_path = _snapshot(run, which)
    for path in (run.path / "recipe.yaml", run.path / "run.json", run.best):
        if not path.exists():
            raise RunError(f"{run.path} is not a training run folder: no {path.name}")
    if not model_path.exists():
        raise RunError(f"{run.path} has no {model_path.name}: the last model is written when the run finishes")
    recipe = load_recipe(run.path / "recipe.yaml")
    record = json.loads((run.path / "run.json").read_text(encoding="utf-8"))
    return recipe, record, load_model(model_path)


def _snapshot(run: RunFolder, which: str) -> Path:
    if which not in SNAPSHOTS:
        raise RunError(f"which model of the run: expected one of {list(SNAPSHOTS)}, found {which!r}")
    return run.best if which == "best" else run.last


def evaluation_paths(run_dir, split: str, which: str = "best") -> tuple[Path, Path]:
    """`(output folder, metrics file)` that `evaluate_run` writes for a split and a model of the run:
    `outputs/<split>/` and `metrics_<split>.json` for the best snapshot, `outputs/<split>_last/` and
    `metrics_<split>_last.json` for the last model."""
    run = RunFolder(run_dir)
    _snapshot(run, which)
    suffix = "" if which == "best" else f"_{which}"
    return run.path / "outputs" / f"{split}{suffix}", run.path / f"metrics_{split}{suffix}.json"


def evaluate_run(
    run_dir, data_dir, split: str = "test", cache_dir=None, progress: bool = True, log=print, which: str = "best"
) -> dict | None:
    """Write the official output files of a split and score them (when labelled).

    `which` picks the model: "best" (the best snapshot by the task's
    validation score) or "last" (the model after the last epoch, of a
    finished run). Outputs and scores go where `evaluation_paths` says:
    `RUN_DIR/outputs/<split>/` and `RUN_DIR/metrics_<split>.json` for the
    best snapshot, `_last` after the split's name for the last model.
    Returns the scores' dict, or None for an unlabelled split.
    """
    from seld_tf.tasks import prepare_task

    run = RunFolder(run_dir)
    out_dir, metrics_path = evaluation_paths(run.path, split, which)
    recipe, record, model = load_run(run.path, which)
    if cache_dir is None and Path(record["data_dir"]) == Path(data_dir).resolve():
        cache_dir = record["cache_dir"]
    task = prepare_task(recipe, data_dir, cache_dir, progress=progress, log=log)
    evaluator = task.evaluator(split)
    result = evaluator.evaluate(model, with_losses=False)
    task.write_outputs(result.predictions, out_dir)
    if result.scores is None:
        return None
    scores = evaluator.summary(result.scores)
    write_json(metrics_path, scores)
    return scores


def predict_file(run_dir, audio_path, out_path):
    """Predict one audio file with a run's best snapshot, or an export of it, and write its official output file."""
    from seld_tf.export import is_export, load_export
    from seld_tf.tasks import task_class

    if is_export(run_dir):
        recipe, record, model = load_export(run_dir)
    elif (Path(run_dir) / "recipe.yaml").exists():
        recipe, record, model = load_run(run_dir)
    else:
        raise RunError(f"{run_dir} is neither a training run folder (no recipe.yaml) nor an export (no saved_model.pb)")
    task = task_class(recipe.task)(recipe)
    prediction = task.predict_audio(model, audio_path, record)
    task.write_prediction(prediction, out_path)
    return prediction


def load_history(run_dir) -> dict[str, list[float]]:
    """The per-epoch numbers of a run (its `history.csv`) as a Keras-style history dict; an epoch
    without a value (no validation that epoch: `CSVLogger` writes "NA") is NaN."""
    path = RunFolder(run_dir).history
    if not path.exists():
        raise RunError(f"{run_dir} has no history.csv: not a training run folder, or not started")
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    keys = [key for key in (rows[0] if rows else {}) if key != "epoch"]
    return {key: [float(row[key]) if row[key] not in ("", "NA", None) else math.nan for row in rows] for key in keys}
