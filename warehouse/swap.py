"""The two file moves of a build: the warehouse copied aside, the built copy swapped in.

Both touch the file every reader opens, so both must fail cleanly. A copy that runs out of
room (ENOSPC, or EFBIG under a file-size limit) removes what it wrote: a partial copy of a
multi-gigabyte warehouse would otherwise hold the space that the next build needs. The swap
is a rename, atomic for readers, but durable only once the folder holding it is fsynced:
without that a power loss can bring the old file back after the build reported success
(and after its alerts were delivered). The built file is fsynced before the rename, so
the name can never become durable before the data it points to.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path


class WarehouseFileError(RuntimeError):
    """The warehouse could not be copied aside or swapped in; the message says which file,
    why (the system's reason), and that the live warehouse is unchanged."""


def copy_aside(live: Path, copy: Path) -> None:
    """Copy the live warehouse to ``copy``, whole or not at all."""
    try:
        shutil.copyfile(live, copy)
    except OSError as exc:
        with contextlib.suppress(FileNotFoundError):
            copy.unlink()
        reason = exc.strerror or str(exc)
        raise WarehouseFileError(
            f"cannot copy {live} to {copy} to build it: {reason}; the partial copy was "
            f"removed and {live} is unchanged (free some space and build again)",
        ) from exc


def swap_in(built: Path, live: Path) -> None:
    """Rename ``built`` over ``live``, durably: file fsync, rename, folder fsync."""
    try:
        _fsync(built, os.O_RDONLY)
        os.replace(built, live)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise WarehouseFileError(
            f"cannot swap {built} in as {live}: {reason}; {live} is unchanged"
        ) from exc
    try:
        _fsync(live.parent, os.O_RDONLY | os.O_DIRECTORY)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise WarehouseFileError(
            f"swapped {built} in as {live}, but cannot fsync {live.parent}: {reason}; "
            "a power loss may bring the previous warehouse back",
        ) from exc


def _fsync(path: Path, flags: int) -> None:
    fd = os.open(path, flags)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
