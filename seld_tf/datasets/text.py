"""Annotation text files as real datasets ship them."""

from __future__ import annotations

import codecs
import os
import re

from seld_tf.errors import AnnotationError, FileError

LINE_END = re.compile(r"\r\n|\r|\n")


def read_lines(path: str | os.PathLike) -> list[str]:
    """The lines of a UTF-8 text file up to its last non-blank one.

    A byte-order mark, CRLF or CR line ends and trailing blank lines (all seen
    in released metadata) are accepted.

    Raises:
        FileError: the file cannot be read.
        AnnotationError: the file is not UTF-8, naming the first bad line.
    """
    try:
        with open(path, "rb") as handle:
            data = handle.read().removeprefix(codecs.BOM_UTF8)
    except OSError as error:
        raise FileError(path, f"cannot be read: {error.strerror}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = len(LINE_END.findall(data[: error.start].decode("utf-8"))) + 1
        raise AnnotationError(path, line, "is not UTF-8 text") from None
    lines = LINE_END.split(text)
    while lines and not lines[-1].strip():
        lines.pop()
    return lines
