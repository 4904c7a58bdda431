"""Racker's state: every node event with a timestamp, in SQLite (WAL) under the state dir.

The boot server, the dnsmasq lease script and the engine all append events here; `racker status`
and `racker node timeline` read them. Writes are single transactions, so the database survives
`kill -9` of any writer (WAL journal, synchronous=NORMAL is durable across process crashes).
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from racker.adapters.fs.writable import ensure_dir
from racker.core.events import Event, EventKind
from racker.errors import RackerError, StateWriteError, Where

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    ts REAL NOT NULL,
    mac TEXT NOT NULL,
    kind TEXT NOT NULL,
    stage TEXT,
    detail TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS events_mac ON events (mac, id);
"""


class Store:
    """The SQLite event store. One connection per Store; use one Store per thread."""

    def __init__(self, path: Path, clock: Callable[[], float] = time.time) -> None:
        self.path = path
        self._clock = clock
        ensure_dir(path.parent, "racker's state folder", "RACKER_STATE_DIR")
        try:
            self._db = sqlite3.connect(path, timeout=30, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)
            self._db.execute(
                "INSERT OR IGNORE INTO meta (key, value) VALUES ('schema', ?)",
                (str(SCHEMA_VERSION),),
            )
        except sqlite3.OperationalError as e:  # full, read-only or missing filesystem
            raise StateWriteError(
                f"cannot open the racker database: {e}", where=Where(file=str(path)),
                hint="free space on the state folder's filesystem (RACKER_STATE_DIR) or make "
                     "it writable, then run the command again") from None
        except sqlite3.DatabaseError as e:
            raise RackerError(
                f"cannot open the racker database: {e}",
                where=Where(file=str(path)),
                hint="check that the state directory is writable; a corrupt database can be "
                "moved away, racker then starts a new event log",
            ) from e

    @classmethod
    def in_state_dir(cls, state_dir: Path) -> Store:
        """The store at its usual place, `<state>/racker.db`."""
        return cls(state_dir / "racker.db")

    def close(self) -> None:
        self._db.close()

    def now(self) -> float:
        """The time as the store stamps events."""
        return self._clock()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        try:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
                self._db.execute("COMMIT")
            except BaseException:
                # NOTE: a COMMIT that failed (disk full) can leave the transaction open or
                # already rolled back; either way nothing of it is kept.
                with contextlib.suppress(sqlite3.Error):
                    self._db.execute("ROLLBACK")
                raise
        except sqlite3.OperationalError as e:  # full, read-only or failing filesystem
            raise StateWriteError(
                f"cannot write racker's event store: {e}", where=Where(file=str(self.path)),
                hint="free space on the state folder's filesystem (RACKER_STATE_DIR) or make "
                     "it writable, then run the command again: it continues where it stopped"
            ) from None

    def add(
        self,
        mac: str,
        kind: EventKind,
        *,
        stage: str | None = None,
        detail: Mapping[str, Any] | None = None,
        ts: float | None = None,
    ) -> Event:
        """Append one event and return it."""
        when = self._clock() if ts is None else ts
        data = dict(detail or {})
        with self._tx() as db:
            cur = db.execute(
                "INSERT INTO events (ts, mac, kind, stage, detail) VALUES (?, ?, ?, ?, ?)",
                (when, mac, kind.value, stage, json.dumps(data, sort_keys=True)),
            )
            row_id = cur.lastrowid
        assert row_id is not None
        return Event(row_id, when, mac, kind, stage, data)

    def events(self, mac: str | None = None, *, since_id: int = 0,
               kinds: Iterable[EventKind] | None = None) -> list[Event]:
        """Events in the order they were added, of one node or of all; of `kinds` only when
        given (a follower of a few kinds must not parse a bootstrap's thousands of requests)."""
        where: list[str] = ["id > ?"]
        args: list[int | str] = [since_id]
        if mac is not None:
            where.insert(0, "mac = ?")
            args.insert(0, mac)
        if kinds is not None:
            names = sorted(k.value for k in kinds)
            where.append(f"kind IN ({', '.join('?' * len(names))})")
            args += names
        rows = self._db.execute(
            "SELECT id, ts, mac, kind, stage, detail FROM events "
            f"WHERE {' AND '.join(where)} ORDER BY id", args)
        return [_event(r) for r in rows]

    def last_by_kind(self, kind: EventKind) -> dict[str, Event]:
        """The newest event of `kind` per node."""
        rows = self._db.execute(
            "SELECT id, ts, mac, kind, stage, detail FROM events WHERE id IN "
            "(SELECT MAX(id) FROM events WHERE kind = ? GROUP BY mac)",
            (kind.value,),
        )
        return {e.mac: e for e in map(_event, rows)}

    def last_of(self, mac: str, kinds: Iterable[EventKind],
                stage: str | None = None) -> Event | None:
        """The node's newest event of one of `kinds`; of kind `stage` only with that stage
        when `stage` is given."""
        names = sorted(k.value for k in kinds)
        row = self._db.execute(
            "SELECT id, ts, mac, kind, stage, detail FROM events WHERE mac = ? AND kind IN "
            f"({', '.join('?' * len(names))}) AND (kind != 'stage' OR ? IS NULL OR stage = ?) "
            "ORDER BY id DESC LIMIT 1",
            (mac, *names, stage, stage),
        ).fetchone()
        return None if row is None else _event(row)

    def trim(self, kind: EventKind, keep: int) -> int:
        """Delete all but the newest `keep` events of `kind` (a log that cannot fill the disk);
        returns how many were deleted."""
        with self._tx() as db:
            row = db.execute("SELECT id FROM events WHERE kind = ? ORDER BY id DESC "
                             "LIMIT 1 OFFSET ?", (kind.value, keep)).fetchone()
            if row is None:
                return 0
            cur = db.execute("DELETE FROM events WHERE kind = ? AND id <= ?",
                             (kind.value, row[0]))
            return cur.rowcount

    def macs(self) -> list[str]:
        """Every node that has events, sorted."""
        return [r[0] for r in self._db.execute("SELECT DISTINCT mac FROM events ORDER BY mac")]


def _event(row: tuple[Any, ...]) -> Event:
    id_, ts, mac, kind, stage, detail = row
    return Event(id_, ts, mac, EventKind(kind), stage, json.loads(detail))
