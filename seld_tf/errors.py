"""Error classes. Every message names the file (and row) at fault, what was
expected and what was found, so a bad file in a 600-clip dataset is found at once."""

from __future__ import annotations

import os


class SeldTfError(Exception):
    """Base class of every error the package raises on bad input or configuration."""


class FileError(SeldTfError, ValueError):
    """A file is missing, unreadable, or not what the caller expected."""

    def __init__(self, path: str | os.PathLike, problem: str):
        self.path = os.fspath(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


class AudioFileError(FileError):
    """An audio file is unreadable, truncated, or not what the caller expected."""


class ModelFileError(FileError):
    """A saved model file references objects that nothing has registered."""


class AudioFilesError(SeldTfError, ValueError):
    """Some audio files of a dataset are bad: a summary line, then one line per file.

    Raised after every readable file was processed, so one run lists them all.
    `errors` holds each file's `AudioFileError`, `total` the number of files.
    """

    def __init__(self, errors: list[AudioFileError], total: int):
        self.errors = errors
        self.total = total
        lines = [f"{len(errors)} of {total} audio files could not be read:", *(f"  {error}" for error in errors)]
        super().__init__("\n".join(lines))


class AnnotationError(SeldTfError, ValueError):
    """A row of an annotation or output file is malformed or out of range.

    `row` is the 1-based line number in the file, as an editor shows it.
    """

    def __init__(self, path: str | os.PathLike, row: int | None, problem: str):
        self.path = os.fspath(path)
        self.row = row
        self.problem = problem
        where = self.path if row is None else f"{self.path}, row {row}"
        super().__init__(f"{where}: {problem}")


class ConfigError(SeldTfError, ValueError):
    """A recipe, preset or argument combination is invalid."""


class RunError(SeldTfError, ValueError):
    """A run folder cannot be trained into or resumed as asked."""
