"""A disk cache of LLM answers, so that re-running a command costs no calls and no tokens.

Keys hash everything that decides an answer: backend, model, messages, schema and sampling
params. Only successful answers are stored. The cache is one SQLite file (WAL mode), safe to
share between threads and between processes.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
from pathlib import Path

from kgx.errors import ConfigError
from kgx.llm.types import LLMRequest, ScoreRequest

CACHE_FILE = "llm-cache.sqlite"


def default_cache_dir() -> Path:
    """`$KGX_CACHE_DIR`, else `$XDG_CACHE_HOME/kgx`, else `~/.cache/kgx`."""
    if os.environ.get("KGX_CACHE_DIR"):
        return Path(os.environ["KGX_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "kgx"


def generation_key(backend: str, model: str, request: LLMRequest) -> str:
    """The cache key of a generation request (its caller-side `key` is not part of it)."""
    params = request.params.model_dump(mode="json")
    if not params["logprobs"]:  # keys from before the option stay valid
        del params["logprobs"]
    return _digest({
        "kind": "generate", "backend": backend, "model": model,
        "messages": [message.model_dump() for message in request.messages],
        "schema": request.json_schema(), "params": params,
    })


def score_key(backend: str, model: str, request: ScoreRequest) -> str:
    """The cache key of a scoring request."""
    return _digest({"kind": "score", "backend": backend, "model": model,
                    "prompt": request.prompt, "continuation": request.continuation})


def next_tokens_key(backend: str, model: str, prefix: str, k: int) -> str:
    """The cache key of one prefix's k likeliest next tokens."""
    return _digest({"kind": "next_tokens", "backend": backend, "model": model,
                    "prefix": prefix, "k": k})


def _digest(payload: dict) -> str:
    canonical = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


class LLMCache:
    """Answers by key, in `directory/llm-cache.sqlite`.

        cache = LLMCache()              # ~/.cache/kgx, or $KGX_CACHE_DIR
        cache.put(key, completion.to_json()); cache.get(key)
    """

    def __init__(self, directory: str | Path | None = None) -> None:
        self.path = Path(directory or default_cache_dir()) / CACHE_FILE
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None

    def _connection(self) -> sqlite3.Connection:
        if self._db is None:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                db = sqlite3.connect(self.path, check_same_thread=False, timeout=30)
                db.execute("PRAGMA journal_mode=WAL")
                db.execute("CREATE TABLE IF NOT EXISTS answers "
                           "(key TEXT PRIMARY KEY, value TEXT NOT NULL)")
            except (OSError, sqlite3.Error) as e:
                raise ConfigError(f"Cannot open the LLM cache at {self.path} ({e}); point "
                                  "KGX_CACHE_DIR at a writable folder, or pass --no-cache."
                                  ) from e
            self._db = db
        return self._db

    def get(self, key: str) -> str | None:
        """The stored answer, or None."""
        with self._lock:
            row = self._connection().execute(
                "SELECT value FROM answers WHERE key = ?", (key,)).fetchone()
        return None if row is None else row[0]

    def get_many(self, keys: list[str]) -> dict[str, str]:
        """Stored answers for those of `keys` that have one."""
        found: dict[str, str] = {}
        with self._lock:
            db = self._connection()
            for start in range(0, len(keys), 500):
                part = keys[start:start + 500]
                marks = ",".join("?" * len(part))
                found.update(db.execute(
                    f"SELECT key, value FROM answers WHERE key IN ({marks})", part).fetchall())
        return found

    def put_many(self, items: list[tuple[str, str]]) -> None:
        """Store answers (idempotent: a key's answer is replaced, never duplicated)."""
        if not items:
            return
        with self._lock:
            db = self._connection()
            with db:
                db.executemany("INSERT OR REPLACE INTO answers (key, value) VALUES (?, ?)",
                               items)

    def __len__(self) -> int:
        with self._lock:
            return self._connection().execute("SELECT count(*) FROM answers").fetchone()[0]

    def close(self) -> None:
        """Close the file; the cache reopens on next use."""
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None
