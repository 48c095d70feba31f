"""What the dataset generators (`desed`, `tut`, `weakmix`, `seld`) share: the file protocol and the report.

`desed`, `tut` and `weakmix` render their files in worker processes
(`worker_map`), write TSV metadata with `write_tsv` and peak-normalise each
recording (`peak_normalized`); all four write `CONFIG_FILE` last (a folder
without it is a generation that was cut short), and `desed`, `tut` and
`seld` end their summary with `timing`.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import math
import multiprocessing
import os
import time
from collections import Counter
from typing import Any, Callable, Iterable, Iterator, Sequence

import numpy as np

from seld_tf.errors import ConfigError
from seld_tf.fileio import atomic_open

CONFIG_FILE = "synth_config.json"


def require_empty(root: str, name: str) -> None:
    """Refuse a non-empty `root`: leftovers of an earlier run would join the `name` stand-in written there."""
    if os.path.isdir(root) and os.listdir(root):
        raise ConfigError(f"{root} is not empty; write the {name} stand-in to an empty or new folder")


def db_to_gain(value: float) -> float:
    """The amplitude factor of `value` dB."""
    return 10.0 ** (value / 20.0)


def peak_normalized(audio: np.ndarray, rng: np.random.Generator, peak_dbfs: tuple[float, float]) -> np.ndarray:
    """`audio` as float32, scaled so that its largest sample sits at a level drawn from `peak_dbfs` (low, high)."""
    return (audio * (db_to_gain(rng.uniform(*peak_dbfs)) / np.abs(audio).max())).astype(np.float32)


def write_tsv(root: str, relative: str, header: Sequence[str], rows: Iterable[Sequence[str]]) -> None:
    """Atomically write `header` and `rows` as tab-separated lines to `root/relative` (`/`-separated)."""
    with atomic_open(os.path.join(root, *relative.split("/")), "w", encoding="utf-8", newline="") as handle:
        handle.writelines("\t".join(row) + "\n" for row in [header, *rows])


@contextlib.contextmanager
def worker_map(function: Callable, *iterables: Iterable, workers: int | None, chunksize: int = 1) -> Iterator[Iterator]:
    """`map(function, *iterables)` in `workers` processes (None: the CPU count; 1: in this process), results in order.

    The pool lives as long as the `with` block, so consume the results inside it.
    """
    if workers == 1:
        yield map(function, *iterables)
        return
    # forkserver, not fork: the caller may have started threads (TensorFlow's, say) that fork would copy mid-state.
    context = multiprocessing.get_context("forkserver")
    with concurrent.futures.ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        yield pool.map(function, *iterables, chunksize=chunksize)


def class_counts(specs: Iterable[Any]) -> dict[str, int]:
    """Events per label over specs whose `events` are `(onset, offset, label)`, sorted by label."""
    return dict(sorted(Counter(label for spec in specs for _, _, label in spec.events).items()))


def timing(started: float, audio_seconds: float, rendered_seconds: float | None = None) -> dict[str, float]:
    """The report's `audio_seconds`, `wall_time_s` since `started` (a `time.perf_counter()`) and `realtime_factor`.

    `rendered_seconds` (default `audio_seconds`) is the audio the factor counts,
    e.g. once per format written.
    """
    wall = time.perf_counter() - started
    rendered = audio_seconds if rendered_seconds is None else rendered_seconds
    return {"audio_seconds": audio_seconds, "wall_time_s": wall, "realtime_factor": rendered / wall if wall > 0 else math.inf}
