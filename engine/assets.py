"""The two files users fetch: PaddleGAN's vox-256 checkpoint and the 蚂蚁呀嘿 template video."""

from __future__ import annotations

from pathlib import Path

from .download import download
from .hashing import sha256_file

WEIGHTS_URL = "https://paddlegan.bj.bcebos.com/applications/first_order_model/vox-cpk.pdparams"
# The published file is ~229 MB; its sha256 could not be recorded offline. The download is checked
# against Content-Length, this floor, and then by loading it into the vox-256 networks.
WEIGHTS_MIN_SIZE = 200_000_000

YAHEY_URL = "https://raw.githubusercontent.com/PaddlePaddle/PaddleGAN/develop/docs/imgs/mayiyahei.MP4"
YAHEY_SIZE = 3_581_498
YAHEY_SHA256 = "63e0727341d591cb94071a9db43757d63a3e2b70b884393f6eac4d3f0b8280d6"
YAHEY_ID = "yahey"
YAHEY_VIDEO = "mayiyahei.MP4"


def fetch_weights(dest: Path, sha256: str | None = None, url: str = WEIGHTS_URL,
                  progress: bool = True) -> str:
    """Download the checkpoint to `dest` and check it loads; returns its sha256."""
    from .networks import load_networks

    digest = download(url, dest, expected_sha256=sha256, min_size=WEIGHTS_MIN_SIZE,
                      progress=progress)
    load_networks(dest)  # raises EngineError if it is not a vox-256 FOMM checkpoint
    return digest


def fetch_yahey(templates_dir: Path, url: str = YAHEY_URL, progress: bool = True) -> Path:
    """Download 蚂蚁呀嘿's video into templates_dir/yahey/ (skipped when already there and intact)."""
    dest = Path(templates_dir) / YAHEY_ID / YAHEY_VIDEO
    if dest.is_file() and dest.stat().st_size == YAHEY_SIZE and sha256_file(dest) == YAHEY_SHA256:
        return dest
    download(url, dest, expected_size=YAHEY_SIZE, expected_sha256=YAHEY_SHA256, progress=progress)
    return dest
