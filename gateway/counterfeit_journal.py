"""A local append-only journal of forged scans not yet in the database.

A forged code must cost no database write, so attempts are tallied in memory and upserted in
batches (``gateway.counterfeits``). What keeps a ``kill -9`` from losing the tallies of the
last seconds is this journal: one line per forged scan, appended with a single ``write``
(no ``fsync``: the kernel keeps it when the process dies), into a segment file that is
replaced at each flush. A segment's id goes into ``counterfeit_flushes`` in the transaction
that commits its tallies; the file is deleted after that commit. A segment left on disk by a
dead process (no one holds its lock) is replayed at start-up unless its id is in the ledger.

What it cannot keep: lines the kernel had not written back when the machine itself failed
(power loss, kernel crash) — at most the last few seconds of forged scans of that machine —
and a journal directory lost with its disk. Each database has its own directory under
``var_dir`` (``gateway.counterfeits.journal_dir_for``), so a segment is never replayed into
another database.
"""

from __future__ import annotations

import fcntl
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import structlog

__all__ = ["CounterfeitJournal", "Segment", "orphan_segments", "read_segment"]

log = structlog.get_logger("gateway.counterfeits")

SUFFIX = ".seg"


class Segment:
    """One journal file, locked by the process writing it until its tallies are committed."""

    __slots__ = ("fd", "id", "path")

    def __init__(self, directory: Path | None, segment_id: uuid.UUID) -> None:
        self.id = segment_id
        self.path = directory / f"{segment_id}{SUFFIX}" if directory is not None else None
        self.fd: int | None = None
        if self.path is not None:
            try:
                self.fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
                fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                log.warning("gateway.counterfeits.journal_unavailable", error=str(exc))
                self.close()

    def write(self, line: bytes) -> None:
        if self.fd is not None:
            try:
                os.write(self.fd, line)
            except OSError as exc:  # a full disk: the tally in memory still counts
                log.warning("gateway.counterfeits.journal_write_failed", error=str(exc))

    def close(self) -> None:
        fd, self.fd = self.fd, None
        if fd is not None:
            os.close(fd)

    def discard(self) -> None:
        """Its tallies are committed: delete the file (then let go of the lock)."""
        if self.path is not None:
            self.path.unlink(missing_ok=True)
        self.close()


class CounterfeitJournal:
    """The segment forged scans go to now; ``rotate`` closes it for a flush."""

    def __init__(self, directory: Path | None) -> None:
        self.directory = directory
        if directory is not None:
            try:
                directory.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                log.warning("gateway.counterfeits.journal_unavailable", error=str(exc))
                self.directory = None
        self.current = Segment(self.directory, uuid.uuid4())

    def write(self, line: bytes) -> None:
        self.current.write(line)

    def rotate(self) -> Segment:
        """Start a new segment; return the one that covers everything recorded so far."""
        closed, self.current = self.current, Segment(self.directory, uuid.uuid4())
        return closed

    def close(self) -> None:
        self.current.close()


def orphan_segments(directory: Path | None) -> Iterator[tuple[Segment, Path]]:
    """Segments on disk that no live process holds; each yielded locked by us."""
    if directory is None or not directory.is_dir():
        return
    for path in sorted(directory.glob(f"*{SUFFIX}")):
        try:
            segment_id = uuid.UUID(path.name.removesuffix(SUFFIX))
        except ValueError:
            continue
        fd = os.open(path, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:  # a live process writes or flushes it
            os.close(fd)
            continue
        segment = Segment(None, segment_id)
        segment.path, segment.fd = path, fd
        yield segment, path


def read_segment(path: Path) -> Iterator[tuple[float, str, str, str]]:
    """(time, gtin, ip, reason) per complete line; a line torn by the crash is skipped."""
    for raw in path.read_bytes().split(b"\n")[:-1]:  # the last piece has no newline: torn
        parts = raw.decode("utf-8", "replace").split("\t")
        if len(parts) != 4:
            continue
        try:
            yield float(parts[0]), parts[1], parts[2], parts[3]
        except ValueError:
            continue
