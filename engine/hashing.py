"""sha256 of files, remembered per (path, size, mtime) so a 229 MB checkpoint is hashed once."""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path

_memo: dict[tuple[str, int, int], str] = {}
_lock = threading.Lock()


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    path = Path(path)
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    with _lock:
        if key in _memo:
            return _memo[key]
    h = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(chunk):
            h.update(block)
    digest = h.hexdigest()
    with _lock:
        _memo[key] = digest
    return digest
