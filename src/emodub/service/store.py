"""The studio's job store: jobs, their tasks (the first dub, then each regenerated cue) and events, in SQLite.

SQLite in WAL mode, so the server's request handlers, its dispatcher and the worker processes
read and write one file at once without a server of their own.  A task is *claimed* with a random
token before it runs; a worker writes its results only while its claim holds, so a worker left over
from a crashed server can never overwrite what a later run decided.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from emodub.errors import InputError

STATUSES = ("queued", "running", "done", "failed")
MAX_ATTEMPTS = 3  # a task that was running when the server stopped this many times fails with that reason

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    created REAL NOT NULL,
    updated REAL NOT NULL,
    status TEXT NOT NULL,
    progress REAL NOT NULL DEFAULT 0,
    stage TEXT NOT NULL DEFAULT '',
    error TEXT,
    version INTEGER NOT NULL DEFAULT 0,
    inputs TEXT NOT NULL,
    options TEXT NOT NULL,
    summary TEXT
);
CREATE TABLE IF NOT EXISTS tasks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL,
    status TEXT NOT NULL,
    claim TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    error TEXT,
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    at REAL NOT NULL,
    kind TEXT NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_by_job ON events(job_id, id);
CREATE INDEX IF NOT EXISTS tasks_by_status ON tasks(status, id);
"""


@dataclass(frozen=True)
class Task:
    id: int
    job_id: str
    kind: str  # dub | cue
    payload: dict[str, Any]
    claim: str | None
    attempts: int


class JobStore:
    """Jobs, tasks and events of one data folder (``DATA_DIR/jobs.sqlite3``)."""

    def __init__(self, data_dir: str | Path) -> None:
        self.data_dir = Path(data_dir)
        self.path = self.data_dir / "jobs.sqlite3"
        db = sqlite3.connect(self.path, timeout=30)
        try:
            db.execute("PRAGMA journal_mode=WAL")  # kept by the file: every later connection is in WAL mode
            db.executescript(SCHEMA)
        except sqlite3.DatabaseError as error:
            raise InputError(f"the studio's job database {str(self.path)!r} is damaged ({error}); nothing was changed: move it "
                             "aside to start with no jobs (the jobs' files stay in its folder), or restore it from a backup") from None
        finally:
            db.close()

    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        """One short-lived connection per use: safe across threads and processes; every block is one transaction."""
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        try:
            db.row_factory = sqlite3.Row
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA foreign_keys=ON")
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
        finally:
            db.close()

    # -- jobs -------------------------------------------------------------------------------------------
    def job_folder(self, job_id: str) -> Path:
        return self.data_dir / "jobs" / job_id

    def create_job(self, job_id: str, inputs: dict[str, Any], options: dict[str, Any]) -> None:
        """A new job with its first task (the dub) queued."""
        now = time.time()
        with self._db() as db:
            db.execute("INSERT INTO jobs (id, created, updated, status, stage, inputs, options) VALUES (?, ?, ?, 'queued', 'queued', ?, ?)",
                       (job_id, now, now, json.dumps(inputs), json.dumps(options)))
            db.execute("INSERT INTO tasks (job_id, kind, payload, status, created) VALUES (?, 'dub', '{}', 'queued', ?)", (job_id, now))
            _event(db, job_id, "status", {"status": "queued"})

    def job(self, job_id: str) -> dict[str, Any] | None:
        with self._db() as db:
            row = db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
            return None if row is None else _job_dict(row, db)

    def jobs(self) -> list[dict[str, Any]]:
        with self._db() as db:
            return [_job_dict(row, db) for row in db.execute("SELECT * FROM jobs ORDER BY created DESC")]

    def delete_job(self, job_id: str) -> None:
        with self._db() as db:
            db.execute("DELETE FROM jobs WHERE id = ?", (job_id,))

    def busy(self, job_id: str) -> bool:
        """Whether a task of the job is queued or running."""
        with self._db() as db:
            return db.execute("SELECT 1 FROM tasks WHERE job_id = ? AND status IN ('queued', 'running')", (job_id,)).fetchone() is not None

    # -- tasks ------------------------------------------------------------------------------------------
    def add_cue_task(self, job_id: str, payload: dict[str, Any], kind: str = "cue") -> int:
        """A request for one cue (``cue``: regenerate it as a new take; ``take``: choose one of its takes), queued behind the job's other tasks."""
        with self._db() as db:
            cursor = db.execute("INSERT INTO tasks (job_id, kind, payload, status, created) VALUES (?, ?, ?, 'queued', ?)",
                                (job_id, kind, json.dumps(payload), time.time()))
            _event(db, job_id, "cue", {"cue": payload["cue"], "status": "queued"})
            return int(cursor.lastrowid)

    def claim_next(self) -> Task | None:
        """The oldest queued task of a job with nothing running, marked running under a fresh claim."""
        with self._db() as db:
            row = db.execute("SELECT * FROM tasks WHERE status = 'queued' AND job_id NOT IN "
                             "(SELECT job_id FROM tasks WHERE status = 'running') ORDER BY id LIMIT 1").fetchone()
            if row is None:
                return None
            claim = secrets.token_hex(8)
            db.execute("UPDATE tasks SET status = 'running', claim = ?, attempts = attempts + 1 WHERE id = ?", (claim, row["id"]))
            stage = _task_words(row["kind"], json.loads(row["payload"]))
            db.execute("UPDATE jobs SET status = 'running', stage = ?, progress = 0, updated = ? WHERE id = ?",
                       (stage, time.time(), row["job_id"]))
            _event(db, row["job_id"], "status", {"status": "running", "stage": stage})
            return Task(row["id"], row["job_id"], row["kind"], json.loads(row["payload"]), claim, row["attempts"] + 1)

    def task(self, task_id: int) -> Task | None:
        with self._db() as db:
            row = db.execute("SELECT * FROM tasks WHERE id = ?", (task_id,)).fetchone()
            return None if row is None else Task(row["id"], row["job_id"], row["kind"], json.loads(row["payload"]), row["claim"],
                                                 row["attempts"])

    def holds(self, task: Task) -> bool:
        """Whether ``task``'s claim is still the running one (a restarted server re-queues and re-claims)."""
        with self._db() as db:
            return _holds(db, task)

    def progress(self, task: Task, stage: str, fraction: float) -> bool:
        """Record progress; False when the claim is lost (the worker should stop)."""
        with self._db() as db:
            if not _holds(db, task):
                return False
            db.execute("UPDATE jobs SET stage = ?, progress = ?, updated = ? WHERE id = ?",
                       (stage, round(fraction, 4), time.time(), task.job_id))
            _event(db, task.job_id, "progress", {"stage": stage, "progress": round(fraction, 4)})
            return True

    def finish(self, task: Task, *, version: int | None = None, summary: dict[str, Any] | None = None, error: str | None = None) -> bool:
        """End a task: a new version of the job's outputs, or an error.

        A failed first dub fails the job; a failed cue leaves the job as it was (done, its last
        version) and says why in the events.
        """
        with self._db() as db:
            if not _holds(db, task):
                return False
            now = time.time()
            db.execute("UPDATE tasks SET status = ?, error = ? WHERE id = ?", ("failed" if error else "done", error, task.id))
            if error is None:
                db.execute("UPDATE jobs SET status = 'done', stage = 'done', progress = 1, error = NULL, version = ?, summary = ?, "
                           "updated = ? WHERE id = ?", (version, json.dumps(summary), now, task.job_id))
                _event(db, task.job_id, "status", {"status": "done", "version": version, **({"cue": task.payload["cue"]}
                                                                                            if task.kind != "dub" else {})})
            elif task.kind == "dub":
                db.execute("UPDATE jobs SET status = 'failed', stage = 'failed', error = ?, updated = ? WHERE id = ?",
                           (error, now, task.job_id))
                _event(db, task.job_id, "status", {"status": "failed", "error": error})
            else:
                db.execute("UPDATE jobs SET status = 'done', stage = 'done', progress = 1, updated = ? WHERE id = ?", (now, task.job_id))
                _event(db, task.job_id, "cue", {"cue": task.payload["cue"], "status": "failed", "error": error})
                _event(db, task.job_id, "status", {"status": "done"})
            return True

    def recover(self, task_id: int | None = None) -> list[str]:
        """Tasks left running (after a restart: all; after a worker died: ``task_id``) are queued again, or fail after
        MAX_ATTEMPTS with that reason; returns their job ids."""
        recovered = []
        with self._db() as db:
            query = "SELECT * FROM tasks WHERE status = 'running'" + ("" if task_id is None else " AND id = ?")
            for row in db.execute(query, () if task_id is None else (task_id,)).fetchall():
                recovered.append(row["job_id"])
                if row["attempts"] >= MAX_ATTEMPTS:
                    error = f"the server stopped during this task {row['attempts']} times; not tried again"
                    db.execute("UPDATE tasks SET status = 'failed', claim = NULL, error = ? WHERE id = ?", (error, row["id"]))
                    status = "failed" if row["kind"] == "dub" else "done"
                    db.execute("UPDATE jobs SET status = ?, stage = ?, error = ? WHERE id = ?", (status, status, error, row["job_id"]))
                    _event(db, row["job_id"], "status", {"status": status, "error": error})
                    continue
                db.execute("UPDATE tasks SET status = 'queued', claim = NULL WHERE id = ?", (row["id"],))
                db.execute("UPDATE jobs SET status = 'queued', stage = 'queued again after a restart' WHERE id = ?", (row["job_id"],))
                _event(db, row["job_id"], "status", {"status": "queued", "stage": "queued again after a restart"})
        return recovered

    # -- events -----------------------------------------------------------------------------------------
    def events_after(self, job_id: str, after_id: int) -> list[dict[str, Any]]:
        with self._db() as db:
            rows = db.execute("SELECT id, at, kind, data FROM events WHERE job_id = ? AND id > ? ORDER BY id", (job_id, after_id))
            return [{"id": r["id"], "at": r["at"], "kind": r["kind"], **json.loads(r["data"])} for r in rows]


def _holds(db: sqlite3.Connection, task: Task) -> bool:
    row = db.execute("SELECT claim, status FROM tasks WHERE id = ?", (task.id,)).fetchone()
    return row is not None and row["status"] == "running" and row["claim"] == task.claim


def _event(db: sqlite3.Connection, job_id: str, kind: str, data: dict[str, Any]) -> None:
    db.execute("INSERT INTO events (job_id, at, kind, data) VALUES (?, ?, ?, ?)", (job_id, time.time(), kind, json.dumps(data)))


def _job_dict(row: sqlite3.Row, db: sqlite3.Connection) -> dict[str, Any]:
    """A job as the API shows it (outputs are added by the app, which knows the URLs)."""
    cues = db.execute("SELECT kind, payload, status, error FROM tasks WHERE job_id = ? AND kind IN ('cue', 'take') ORDER BY id",
                      (row["id"],)).fetchall()
    return {"id": row["id"], "status": row["status"], "progress": row["progress"], "stage": row["stage"], "error": row["error"],
            "version": row["version"], "created": row["created"], "updated": row["updated"], "inputs": json.loads(row["inputs"]),
            "options": json.loads(row["options"]), "summary": json.loads(row["summary"]) if row["summary"] else None,
            "edits": [{**json.loads(c["payload"]), "kind": c["kind"], "status": c["status"], "error": c["error"]} for c in cues]}


def _task_words(kind: str, payload: dict[str, Any]) -> str:
    """What a task does, in the words the page shows while it runs."""
    if kind == "dub":
        return "Starting"
    if kind == "take":
        return f"Putting take {payload['take']} of line {payload['cue']} in the mix"
    return f"Redoing line {payload['cue']}"
