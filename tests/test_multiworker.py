"""`seld-tf train --strategy multiworker`: two worker processes on localhost stand for two nodes."""

import csv
import json
import os
import socket
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import yaml

from seld_tf.errors import ConfigError
from seld_tf.recipes import recipe_from_dict
from seld_tf.runs import RunFolder
from seld_tf.tasks import prepare_task
from seld_tf.training import make_strategy
from test_training import TINY

# The masked DOA loss is a ratio within each replica's share of a batch; unmasked, every
# loss is a mean over elements, which splits exactly across replicas.
RECIPE = {**TINY, "loss": {"doa_masked": False, "doa_weight": 1.0}}
TIMEOUT = 300


def _free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for sock in sockets:
        sock.bind(("localhost", 0))
    ports = [sock.getsockname()[1] for sock in sockets]
    for sock in sockets:
        sock.close()
    return ports


def _outputs(workers) -> list[tuple[int, str, str]]:
    """`(returncode, stdout, stderr)` of each worker; none outlives the test."""
    try:
        outputs = [worker.communicate(timeout=TIMEOUT) for worker in workers]
        return [(worker.returncode, *output) for worker, output in zip(workers, outputs)]
    finally:
        for worker in workers:
            worker.kill()


def _start_workers(recipe_path, data_dir, run_dirs, tmp_path):
    """`seld-tf train --strategy multiworker` of worker i into `run_dirs[i]`, with its TMPDIR `tmp_path/tmp<i>`."""
    cluster = {"worker": [f"localhost:{port}" for port in _free_ports(len(run_dirs))]}
    workers = []
    for index, run_dir in enumerate(run_dirs):
        scratch = tmp_path / f"tmp{index}"
        scratch.mkdir()
        env = {
            **os.environ,
            "TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}}),
            "TMPDIR": str(scratch),
            "TF_CPP_MIN_LOG_LEVEL": "3",
        }
        env.pop("SELD_TF_KILL_AT", None)
        command = [sys.executable, "-m", "seld_tf.cli", "--quiet", "train", str(recipe_path), "--data", str(data_dir)]
        command += ["--out", str(run_dir), "--strategy", "multiworker"]
        workers.append(subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    return workers


def _losses(run_dir):
    with open(run_dir / "history.csv", newline="") as handle:
        return [float(row["loss"]) for row in csv.DictReader(handle)]


@pytest.mark.slow
def test_two_workers_train_as_one_worker_and_only_the_chief_writes(tiny_seld_dataset, tmp_path):
    """Two `seld-tf train --strategy multiworker` processes, and in a third interpreter the
    same recipe on one worker: on one device, and mirrored on two logical CPUs.

    Two workers of one replica each split every batch as one worker's two replicas do, so
    their losses equal the mirrored run's up to summation order (measured: equal to float32
    precision; rtol 1e-5). Against one device they differ by the batch-norm statistics,
    which each replica takes over its half batch (measured: 0.3% after two epochs; rtol
    0.01, as for `mirrored`). Only the chief (worker 0) writes: the other worker's run
    folder never appears, and its scratch copy (in its TMPDIR) is deleted.
    """
    recipe_path = tmp_path / "recipe.yaml"
    recipe_path.write_text(yaml.safe_dump(RECIPE))
    # The feature cache is extracted once, before the three processes read it.
    prepare_task(recipe_from_dict(RECIPE), tiny_seld_dataset, progress=False, log=lambda *_: None)

    reference = textwrap.dedent(
        f"""
        import json, tensorflow as tf
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
        from seld_tf.recipes import load_recipe
        from seld_tf.training import train
        losses = {{}}
        for strategy in ("default", "mirrored"):
            history = train(load_recipe({str(recipe_path)!r}), {str(tiny_seld_dataset)!r}, {str(tmp_path)!r} + "/" + strategy,
                            strategy=strategy, verbose=0, progress=False, log=lambda *_: None)
            losses[strategy] = history.history["loss"]
        print(json.dumps(losses))
        """
    )
    workers = _start_workers(recipe_path, tiny_seld_dataset, [tmp_path / "worker0", tmp_path / "worker1"], tmp_path)
    try:
        single = subprocess.run([sys.executable, "-c", reference], capture_output=True, text=True, timeout=TIMEOUT)
    finally:
        outputs = _outputs(workers)
    for returncode, _, stderr in outputs:
        assert returncode == 0, stderr[-3000:]
    assert single.returncode == 0, single.stderr[-3000:]

    chief, other = tmp_path / "worker0", tmp_path / "worker1"
    assert {"best.keras", "last.keras", "history.csv", "recipe.yaml", "run.json", "finished.json"} <= {
        path.name for path in chief.iterdir()
    }
    assert not (chief / "backup").exists()
    assert not other.exists()
    assert not any((tmp_path / "tmp1").iterdir())
    summaries = [json.loads(stdout.strip().splitlines()[-1]) for _, stdout, _ in outputs]
    assert summaries[0]["epochs_run"] == summaries[1]["epochs_run"] == 2

    losses = json.loads(single.stdout.strip().splitlines()[-1])
    multiworker = _losses(chief)
    np.testing.assert_allclose(multiworker, losses["mirrored"], rtol=1e-5)
    np.testing.assert_allclose(multiworker, losses["default"], rtol=0.01)


@pytest.mark.slow
def test_a_worker_that_cannot_see_the_chiefs_backup_stops_both(tiny_seld_dataset, tmp_path):
    """The chief's run folder records a committed epoch; the other worker's (its own disk, say)
    does not. Resuming would average gradients of two different models: both stop before
    training, with an error that names the cause."""
    recipe_path = tmp_path / "recipe.yaml"
    recipe_path.write_text(yaml.safe_dump(RECIPE))
    prepare_task(recipe_from_dict(RECIPE), tiny_seld_dataset, progress=False, log=lambda *_: None)
    chief = RunFolder(tmp_path / "worker0")
    chief.backup.mkdir(parents=True)
    chief.backup_metadata.write_text(json.dumps({"epoch": 1, "batch": 0}))
    outputs = _outputs(_start_workers(recipe_path, tiny_seld_dataset, [chief.path, tmp_path / "worker1"], tmp_path))
    for returncode, _, stderr in outputs:
        assert returncode == 1, stderr[-3000:]
        assert "seld-tf: error: the workers resume after different numbers of epochs ([0, 1])" in stderr
    assert not (tmp_path / "worker1").exists()


def test_a_worker_copy_resumes_as_the_chief(tmp_path):
    chief = RunFolder(tmp_path / "run")
    chief.backup.mkdir(parents=True)
    chief.backup_metadata.write_text(json.dumps({"epoch": 2, "batch": 0}))
    (chief.backup / "latest.weights.h5").write_bytes(b"weights")
    # Epoch 2's row was written, but the backup had not recorded it.
    chief.history.write_text("epoch,loss,val_seld\n0,1.0,0.7\n1,0.9,0.5\n2,0.8,0.4\n")
    copy = chief.worker_copy(tmp_path / "scratch")
    assert copy.committed_epochs() == 2
    assert (copy.backup / "latest.weights.h5").read_bytes() == b"weights"
    assert copy.prepare("val_seld", "min") == chief.prepare("val_seld", "min") == 0.5
    assert not RunFolder(tmp_path / "empty").worker_copy(tmp_path / "scratch2").history.exists()


@pytest.mark.parametrize(
    "tf_config, message",
    [
        (None, "needs TF_CONFIG"),
        ("{cluster", "not valid JSON"),
        ('{"cluster": {"worker": ["a:1"]}}', '"task" must name'),
        ('{"cluster": {"ps": ["a:1"]}, "task": {"type": "ps", "index": 0}}', '"cluster" must map'),
        ('{"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "worker", "index": 2}}', r"0 to 1"),
    ],
)
def test_multiworker_without_a_usable_tf_config_is_a_one_line_error(monkeypatch, tf_config, message):
    if tf_config is None:
        monkeypatch.delenv("TF_CONFIG", raising=False)
    else:
        monkeypatch.setenv("TF_CONFIG", tf_config)
    with pytest.raises(ConfigError, match=message) as error:
        make_strategy("multiworker")
    assert "\n" not in str(error.value)
