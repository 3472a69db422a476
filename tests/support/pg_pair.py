"""A streaming PostgreSQL pair of the tests' own: a scratch primary and a hot-standby replica.

The machine's PostgreSQL does not accept replication connections, so the pair is made from
the PostgreSQL 15 binaries: ``initdb`` (as the ``postgres`` user: the server refuses to run
as root) into a temporary directory, replication allowed from 127.0.0.1 in its own
``pg_hba.conf``, started on a free loopback port; the replica is a ``pg_basebackup -R`` of it
(standby.signal and primary_conninfo written for it) started on another port. Small
buffers: eight helpers share two cores. ``stop`` shuts both down and removes the directory.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path
from types import TracebackType
from typing import Self

import pytest

__all__ = ["PG_BIN", "PgPair"]

PG_BIN = Path(os.environ.get("SCANGUARD_PG_BIN", "/usr/lib/postgresql/15/bin"))
_SERVER_OPTIONS = (
    "-c listen_addresses=127.0.0.1 -c shared_buffers=16MB -c max_connections=40 "
    "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
    "-c max_wal_senders=4 -c wal_level=replica -c hot_standby=on "
    "-c wal_receiver_status_interval=1s -c hot_standby_feedback=on"
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class PgPair:
    """``primary_url`` / ``replica_url`` (SQLAlchemy asyncpg URLs, database ``postgres``)."""

    def __init__(self) -> None:
        self.primary_port = _free_port()
        self.replica_port = _free_port()
        self._root: Path | None = None

    @property
    def primary_url(self) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.primary_port}/postgres"

    @property
    def replica_url(self) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.replica_port}/postgres"

    def _run(self, *args: str) -> None:
        """Run a PostgreSQL binary as the ``postgres`` user (directly when already not root)."""
        command = [str(PG_BIN / args[0]), *args[1:]]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} failed: {done.stdout}{done.stderr}")

    def start(self) -> None:
        if not (PG_BIN / "initdb").exists():
            pytest.skip(f"no PostgreSQL binaries in {PG_BIN}")
        root = Path(tempfile.mkdtemp(prefix="sg-pgpair-"))
        self._root = root
        if os.geteuid() == 0:
            entry = pwd.getpwnam("postgres")
            os.chown(root, entry.pw_uid, entry.pw_gid)
        primary, replica = root / "primary", root / "replica"
        self._run("initdb", "-D", str(primary), "-U", "postgres", "-A", "trust", "--no-sync")
        with (primary / "pg_hba.conf").open("a") as hba:
            hba.write("host replication postgres 127.0.0.1/32 trust\n")
        self._start(primary, self.primary_port)
        self._run(
            "pg_basebackup",
            "-h", "127.0.0.1",
            "-p", str(self.primary_port),
            "-U", "postgres",
            "-D", str(replica),
            "-R",  # standby.signal + primary_conninfo: a streaming hot standby
            "-X", "stream",
            "--no-sync",
        )  # fmt: skip
        self._start(replica, self.replica_port)

    def _start(self, data: Path, port: int) -> None:
        log = data.parent / f"{data.name}.log"
        self._run(
            "pg_ctl", "-D", str(data), "-l", str(log), "-w", "-t", "60",
            "-o", f"-p {port} -k {data.parent} {_SERVER_OPTIONS}", "start",
        )  # fmt: skip

    def stop(self) -> None:
        if self._root is None:
            return
        for name in ("replica", "primary"):
            data = self._root / name
            if (data / "postmaster.pid").exists():
                self._run("pg_ctl", "-D", str(data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self._root, ignore_errors=True)
        self._root = None

    def __enter__(self) -> Self:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
