"""Fault injection for the crash-safety tests.

A training process whose environment sets `SELD_TF_KILL_AT=<point>` (or
`<point>@<epochs>`, to pick the epoch) kills itself with SIGKILL when it
reaches that point, as a power cut or an out-of-memory kill would. Where a
point names a file being written, the file is first cut to half its length:
on disk a write stopped part-way is such a prefix.

Points, in the order an epoch reaches them: `validation` (before the
validation clips are scored), `checkpoint_write` (the best-snapshot candidate),
`backup_write` (the backup's weights), `commit` (after the backup, before the
snapshot is promoted), `final_save` (`last.keras`) and `finish` (before the
finished marker). Unset, `kill_point` does nothing.
"""

from __future__ import annotations

import os
import signal

ENVIRONMENT_VARIABLE = "SELD_TF_KILL_AT"


def kill_point(name: str, epochs: int | None = None, writing: str | os.PathLike | None = None) -> None:
    """SIGKILL this process if `SELD_TF_KILL_AT` names this point (and epoch count)."""
    spec = os.environ.get(ENVIRONMENT_VARIABLE)
    if not spec:
        return
    point, _, at_epochs = spec.partition("@")
    if point != name or (at_epochs and epochs is not None and int(at_epochs) != epochs):
        return
    if writing is not None and os.path.exists(writing):
        os.truncate(writing, os.path.getsize(writing) // 2)
    os.kill(os.getpid(), signal.SIGKILL)
