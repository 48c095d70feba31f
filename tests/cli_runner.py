"""`seld-tf` in a child process, as a user runs it, with the tests folder importable
(recipes there name test-only tasks and model builders by import path)."""

import os
import subprocess
import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parent


def run_cli(*args, kill_at: str | None = None) -> subprocess.CompletedProcess:
    """Run `seld-tf --quiet ARGS...`; `kill_at` sets the fault-injection point (`seld_tf.faults`)."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": os.pathsep.join([str(TESTS), *sys.path])}
    env.pop("SELD_TF_KILL_AT", None)
    if kill_at:
        env["SELD_TF_KILL_AT"] = kill_at
    return subprocess.run(
        [sys.executable, "-m", "seld_tf.cli", "--quiet", *map(str, args)], env=env, capture_output=True, text=True
    )
