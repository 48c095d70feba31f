"""Atomic file writes: a reader never sees a half-written cache entry, checkpoint
or output file, and a crash leaves the previous version intact."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from typing import IO, Iterator

import numpy as np


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "w", **kwargs) -> Iterator[IO]:
    """Open a temporary file beside `path`; rename it onto `path` on success.

    The temporary file lives in the same directory so that `os.replace` is an
    atomic rename on the same file system. On any exception it is removed and
    `path` is left untouched.
    """
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{os.path.basename(path)}.", suffix=".tmp")
    try:
        with os.fdopen(fd, mode, **kwargs) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)
        raise


def save_npy(path: str | os.PathLike, array: np.ndarray) -> None:
    """Atomically write one array in `.npy` format."""
    with atomic_open(path, "wb") as handle:
        np.save(handle, array, allow_pickle=False)


def save_npz(path: str | os.PathLike, **arrays: np.ndarray) -> None:
    """Atomically write named arrays in `.npz` format."""
    with atomic_open(path, "wb") as handle:
        np.savez(handle, **arrays)


def write_json(path: str | os.PathLike, obj, **kwargs) -> None:
    """Atomically write `obj` as indented JSON."""
    with atomic_open(path, "w", encoding="utf-8") as handle:
        json.dump(obj, handle, indent=2, sort_keys=True, **kwargs)
        handle.write("\n")
