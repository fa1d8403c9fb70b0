"""Where peforge keeps what it computes once (energy tables, areas, syntheses, Verilator
builds), and the file lock that lets parallel processes share it."""

import contextlib
import fcntl
import hashlib
import json
import os
from pathlib import Path

CACHE_ENV = "PEFORGE_CACHE_DIR"
REPO_ROOT = Path(__file__).resolve().parent.parent


def cache_root():
    """Root of peforge's caches: $PEFORGE_CACHE_DIR, or <repo>/build/cache."""
    return Path(os.environ.get(CACHE_ENV) or REPO_ROOT / "build" / "cache")


@contextlib.contextmanager
def locked(path):
    """Hold an exclusive lock on the file `path` (created, with its folder, if missing)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def digest(data):
    """A short, stable hash of JSON-able `data`, for cache file names."""
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]
