"""A training run killed (SIGKILL) at any moment resumes with the same command.

The harness trains a tiny recipe through `seld-tf train` in a child process,
kills it, checks the run folder's invariants, and runs the same command again:
first at every named point of an epoch's end (through `SELD_TF_KILL_AT`, which
also cuts the file being written in half, as a kill part-way through a write
leaves it), then at random moments. Invariants after every kill:

- `history.csv` holds epochs 0, 1, ... once each (a row cut short may end it);
- the backup has recorded all of them but at most the one in progress;
- `best.keras`, when present, loads and scores the `val_seld` of a committed
  epoch's row, no worse than any committed epoch before the last;
- `finished.json` exists only once `last.keras` is complete.

After the last command the run is finished: every epoch appears once, the
backup is gone, and `best.keras` scores the best `val_seld` of the history.
"""

import csv
import math
import os
import random
import signal
import subprocess
import sys
import threading
import time

import pytest
import yaml

from seld_tf.recipes import load_recipe
from seld_tf.runs import RunFolder
from seld_tf.saving import load_model
from seld_tf.tasks import prepare_task

pytestmark = pytest.mark.slow

EPOCHS = 4
RECIPE = {
    "name": "tiny_crash",
    "pipeline": {"train_frames": 50, "batch_size": 4},
    "model": {"name": "seldnet", "preset": None, "args": {"conv_filters": 8, "rnn_units": [8], "fc_units": 8}},
    "schedule": {"initial_learning_rate": 0.003},
    "training": {"epochs": EPOCHS, "seed": 3},
}
NAMED_KILLS = ("checkpoint_write@1", "commit@1", "backup_write@2", "validation@3", "final_save", "finish")


@pytest.fixture(scope="module")
def setup(tiny_seld_dataset, tmp_path_factory):
    root = tmp_path_factory.mktemp("crash")
    recipe_path = root / "tiny.yaml"
    recipe_path.write_text(yaml.safe_dump(RECIPE))
    recipe = load_recipe(recipe_path)
    # Extracted once here, so that the children only read the cache.
    task = prepare_task(recipe, tiny_seld_dataset, progress=False, log=lambda *_: None)
    return root, recipe_path, task.evaluator("validation"), tiny_seld_dataset


class Child:
    """`seld-tf train` in a child process; `started` is set when `fit` prints its first epoch."""

    def __init__(self, recipe_path, data_dir, run_dir, kill_at=None):
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
        env.pop("SELD_TF_KILL_AT", None)
        if kill_at:
            env["SELD_TF_KILL_AT"] = kill_at
        command = [sys.executable, "-m", "seld_tf.cli", "--quiet", "train", str(recipe_path), "--data", str(data_dir)]
        self.process = subprocess.Popen(
            [*command, "--out", str(run_dir)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        self.started = threading.Event()
        self.output = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.process.stdout:
            self.output.append(line)
            if line.startswith("Epoch "):
                self.started.set()

    def wait(self):
        code = self.process.wait(timeout=300)
        time.sleep(0.05)  # the reader thread drains the pipe
        return code


def history_rows(run):
    if not run.history.exists():
        return []
    with open(run.history, newline="") as handle:
        rows = list(csv.DictReader(handle))
    if rows and None in rows[-1].values():
        rows = rows[:-1]  # cut short by the kill
    return rows


def assert_consistent(run, evaluator):
    rows = history_rows(run)
    assert [int(row["epoch"]) for row in rows] == list(range(len(rows)))
    committed = run.committed_epochs()
    assert committed >= len(rows) - 1, "more than the epoch in progress would be lost"
    scores = [float(row["val_seld"]) for row in rows[:committed]]
    if run.best.exists():
        best = evaluator.evaluate(load_model(run.best), with_losses=False).scores.SELD
        assert any(math.isclose(best, score, abs_tol=1e-5) for score in scores)
        assert best <= min(scores[:-1], default=math.inf) + 1e-5
    if run.finished:
        load_model(run.last)


def assert_finished(run, evaluator):
    assert run.finished and not run.backup.exists()
    rows = history_rows(run)
    assert [int(row["epoch"]) for row in rows] == list(range(EPOCHS))
    best = evaluator.evaluate(load_model(run.best), with_losses=False).scores.SELD
    assert best == pytest.approx(min(float(row["val_seld"]) for row in rows), abs=1e-5)


def test_killed_at_each_named_point_the_run_resumes(setup):
    root, recipe_path, evaluator, data_dir = setup
    run = RunFolder(root / "named")
    for point in NAMED_KILLS:
        child = Child(recipe_path, data_dir, run.path, kill_at=point)
        code = child.wait()
        assert code == -signal.SIGKILL, f"{point}: exit {code}\n{''.join(child.output)}"
        assert_consistent(run, evaluator)
    child = Child(recipe_path, data_dir, run.path)
    assert child.wait() == 0, "".join(child.output)
    assert_finished(run, evaluator)


def test_killed_at_random_moments_the_run_resumes(setup):
    root, recipe_path, evaluator, data_dir = setup
    run = RunFolder(root / "random")
    rng = random.Random(20261127)
    kills = 0
    while True:
        child = Child(recipe_path, data_dir, run.path)
        # Kill within about the time a whole fit takes, counted from its first epoch.
        if child.started.wait(timeout=120) and kills < 8:
            time.sleep(rng.uniform(0.0, 6.0))
            child.process.send_signal(signal.SIGKILL)
        code = child.wait()
        if code == 0:
            break
        assert code == -signal.SIGKILL, "".join(child.output)
        kills += 1
        assert_consistent(run, evaluator)
        if run.finished:
            break  # killed after the finished marker: nothing is left to resume
    assert kills >= 3
    assert_finished(run, evaluator)


def test_a_backup_corrupted_outside_the_package_gets_a_clear_error(setup):
    root, recipe_path, evaluator, data_dir = setup
    run = RunFolder(root / "corrupt")
    child = Child(recipe_path, data_dir, run.path, kill_at="commit@1")
    assert child.wait() == -signal.SIGKILL
    weights = run.backup / "latest.weights.h5"
    weights.write_bytes(weights.read_bytes()[:100])
    child = Child(recipe_path, data_dir, run.path)
    assert child.wait() == 1
    message = "".join(child.output)
    assert "latest.weights.h5: the backup cannot be loaded" in message and "Traceback" not in message
