"""One small downloader for the weights and the template video: .part file, progress, verification."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from ..errors import DownloadError

_CHUNK = 1 << 20


def download(url: str, dest: Path, expected_size: int | None = None,
             expected_sha256: str | None = None, min_size: int = 1, progress: bool = True,
             timeout: float = 30.0) -> str:
    """Fetch `url` into dest + ".part", verify, then rename to `dest`; returns the sha256.

    Verified: the byte count against Content-Length and `expected_size`, at least `min_size`,
    and the sha256 against `expected_sha256` when one is known. Raises DownloadError (one line).
    """
    import requests
    from tqdm import tqdm

    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    digest = hashlib.sha256()
    written = 0
    try:
        with requests.get(url, stream=True, timeout=timeout) as resp:
            if resp.status_code != 200:
                raise DownloadError(f"download failed: HTTP {resp.status_code} for {url}")
            announced = int(resp.headers.get("Content-Length") or 0) or None
            total = expected_size or announced
            with part.open("wb") as f, tqdm(total=total, unit="B", unit_scale=True,
                                            unit_divisor=1024, desc=dest.name,
                                            disable=not progress) as bar:
                for chunk in resp.iter_content(_CHUNK):
                    f.write(chunk)
                    digest.update(chunk)
                    written += len(chunk)
                    bar.update(len(chunk))
    except BaseException as exc:
        part.unlink(missing_ok=True)  # never leave a half file behind, whatever went wrong
        if isinstance(exc, requests.exceptions.RequestException):
            raise DownloadError(_describe(exc, url, dest)) from exc
        raise
    sha = digest.hexdigest()
    problem = None
    if announced is not None and written != announced:
        problem = f"got {written} bytes, the server announced {announced}"
    elif expected_size is not None and written != expected_size:
        problem = f"got {written} bytes, expected {expected_size}"
    elif written < min_size:
        problem = f"got only {written} bytes"
    elif expected_sha256 is not None and sha != expected_sha256.lower():
        problem = f"sha256 {sha} does not match the expected {expected_sha256}"
    if problem:
        part.unlink(missing_ok=True)
        raise DownloadError(f"download of {dest.name} is corrupt: {problem}")
    os.replace(part, dest)
    return sha


def _describe(exc: Exception, url: str, dest: Path) -> str:
    import requests

    if isinstance(exc, requests.exceptions.ConnectionError):
        return f"cannot reach {_host(url)} (no internet connection?)"
    if isinstance(exc, requests.exceptions.Timeout):
        return f"download from {_host(url)} timed out"
    if isinstance(exc, (requests.exceptions.InvalidSchema, requests.exceptions.MissingSchema,
                        requests.exceptions.InvalidURL)):
        return f"not an http(s) URL: {url}"
    if isinstance(exc, requests.exceptions.ChunkedEncodingError):
        return f"download of {dest.name} was cut short; try again"
    return f"download failed: {type(exc).__name__}"


def _host(url: str) -> str:
    from urllib.parse import urlsplit

    return urlsplit(url).netloc or url
