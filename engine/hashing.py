"""sha256 of files, remembered per (path, size, mtime) so a 229 MB checkpoint is hashed once."""

from __future__ import annotations

import hashlib
import json
import os
import threading
from pathlib import Path

_memo: dict[tuple[str, int, int], str] = {}
_lock = threading.Lock()


def sha256_file(path: Path, chunk: int = 1 << 20, store: Path | None = None) -> str:
    """`store`: a folder where digests are also kept across processes, by (path, size, mtime):
    hashing the 229 MB checkpoint was ~0.25 s of every render process's start-up."""
    path = Path(path)
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    with _lock:
        if key in _memo:
            return _memo[key]
    if store is not None:
        known = _read_store(store)
        digest = known.get(f"{key[0]}:{key[1]}:{key[2]}")
        if isinstance(digest, str):
            with _lock:
                _memo[key] = digest
            return digest
    h = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(chunk):
            h.update(block)
    digest = h.hexdigest()
    with _lock:
        _memo[key] = digest
    if store is not None:
        _write_store(store, f"{key[0]}:{key[1]}:{key[2]}", digest)
    return digest


def _read_store(store: Path) -> dict[str, str]:
    try:
        known = json.loads((Path(store) / "digests.json").read_text())
        return {str(k): str(v) for k, v in known.items()} if isinstance(known, dict) else {}
    except (OSError, ValueError):
        return {}


def _write_store(store: Path, key: str, digest: str) -> None:
    try:
        known = _read_store(store)
        known[key] = digest
        Path(store).mkdir(parents=True, exist_ok=True)
        tmp = Path(store) / f".digests.{os.getpid()}.json"
        tmp.write_text(json.dumps(known))
        os.replace(tmp, Path(store) / "digests.json")
    except OSError:
        pass  # only a speed-up
