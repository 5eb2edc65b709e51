"""A per-process journal of request records, so that a `kill -9` loses none.

Every record is appended as one JSON line with a single unbuffered `write()` (a few microseconds,
into the page cache: it survives the process, not a power cut) before it waits in memory for the
store. At the next start every journal in the folder is replayed into the store before budgets
are read back: records are inserted by their unique `request_id`, so a record written twice
counts once. Once the store has written everything buffered, this process starts a new segment
and deletes the old ones; journals of processes that are gone are deleted once replayed.

Plain files, no SQL: the journal is written before the store (and SQLAlchemy) is loaded.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from router_ext import platform_support

log = logging.getLogger("smart_router")


class Journal:
    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        self.pid = os.getpid()
        self._segment = 0
        self._fd: int | None = None
        self.failed = False

    @property
    def path(self) -> Path:
        return self.folder / f"records-{self.pid}-{self._segment}.jsonl"

    def append(self, record: Mapping[str, Any]) -> None:
        if self.failed:
            return
        line = (json.dumps(record, default=_plain, separators=(",", ":")) + "\n").encode()
        try:
            if self._fd is None:
                self.folder.mkdir(parents=True, exist_ok=True)
                self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            os.write(self._fd, line)
        except OSError as error:  # a full or read-only disk must not stop routing
            self.failed = True
            log.error("smart-router: request journal off (%s): a crash may lose buffered records", error)

    def written_up_to_now(self) -> None:
        """The store holds every record appended so far: start a new segment, drop the old."""
        if self._fd is None:
            return
        os.close(self._fd)
        self._fd = None
        old = self.path
        self._segment += 1
        old.unlink(missing_ok=True)

    def replay(self) -> tuple[list[dict[str, Any]], list[Path]]:
        """Every record of every journal in the folder (this process's included), and the files
        that may be deleted once those records are in the store (ours, and those of processes
        that are gone)."""
        records: list[dict[str, Any]] = []
        done: list[Path] = []
        for path in sorted(self.folder.glob("records-*.jsonl")) if self.folder.exists() else []:
            owner = _pid_of(path)
            if owner == self.pid:
                continue  # ours are in memory, on their way to the store
            records += list(_read(path))
            if owner is None or not _alive(owner):
                done.append(path)
        return records, done

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def _read(path: Path) -> Iterator[dict[str, Any]]:
    try:
        lines = path.read_bytes().splitlines()
    except OSError:
        return
    for line in lines:
        try:
            record = json.loads(line)
        except ValueError:  # the last line of a killed process may be cut short
            continue
        if isinstance(record, dict) and record.get("request_id"):
            created = record.get("created_at")
            if isinstance(created, str):
                record["created_at"] = dt.datetime.fromisoformat(created)
            yield record


def _pid_of(path: Path) -> int | None:
    parts = path.stem.split("-")
    return int(parts[1]) if len(parts) == 3 and parts[1].isdigit() else None


def _alive(pid: int) -> bool:
    return platform_support.pid_alive(pid)


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, dt.datetime) else str(value)
