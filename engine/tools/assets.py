"""What users fetch: PaddleGAN's vox-256 checkpoint, the 蚂蚁呀嘿 template video and, for a better
clean background, PaddleSeg's PP-HumanSegV2 model."""

from __future__ import annotations

import os
import shutil
import zipfile
from pathlib import Path

from ..errors import DownloadError
from ..hashing import sha256_file
from ..segmentation import HUMANSEG_FILES, HumanSegSegmenter
from .download import download

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
    from ..model.networks import load_networks

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


# PaddleSeg's PP-HumanSegV2-Lite portrait model (256x144, mIoU 96.6, Apache-2.0), softmax output.
# For groups and whole bodies the general PP-HumanSegV2-Mobile (192x192) can be given with --url:
# https://paddleseg.bj.bcebos.com/dygraph/pp_humanseg_v2/human_pp_humansegv2_mobile_192x192_inference_model_with_softmax.zip
# Neither sha256 could be recorded offline: the archive is checked by unpacking it and loading it
# with paddle.inference.
HUMANSEG_URL = ("https://paddleseg.bj.bcebos.com/dygraph/pp_humanseg_v2/"
                "portrait_pp_humansegv2_lite_256x144_smaller/"
                "portrait_pp_humansegv2_lite_256x144_inference_model_with_softmax.zip")


def fetch_humanseg(dest: Path, url: str = HUMANSEG_URL, sha256: str | None = None,
                   progress: bool = True) -> Path:
    """Download a PP-HumanSeg inference-model zip, check it holds model.pdmodel, model.pdiparams
    and deploy.yaml and that paddle.inference loads it, then put those files in `dest` (replacing
    what was there only once the new model has loaded). Returns `dest`."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    archive = dest.with_name(dest.name + ".zip")
    staging = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
    try:
        download(url, archive, expected_sha256=sha256, progress=progress)
        try:
            with zipfile.ZipFile(archive) as z:
                z.extractall(staging)  # zipfile drops absolute paths and ".." parts
        except zipfile.BadZipFile as exc:
            raise DownloadError(f"{url} is not a zip archive") from exc
        found = [p.parent for p in staging.rglob("deploy.yaml")
                 if all((p.parent / n).is_file() for n in HUMANSEG_FILES)]
        if len(found) != 1:
            raise DownloadError(f"{url} does not hold one PaddleSeg export "
                                f"({', '.join(HUMANSEG_FILES)})")
        HumanSegSegmenter(found[0])  # SegmenterUnavailable when paddle.inference cannot run it
        old = dest.with_name(f".{dest.name}.{os.getpid()}.old")
        if dest.exists():
            os.replace(dest, old)
        try:
            os.replace(found[0], dest)
        except OSError:
            if old.exists():  # put the previous model back
                os.replace(old, dest)
            raise
        shutil.rmtree(old, ignore_errors=True)
    finally:
        archive.unlink(missing_ok=True)
        shutil.rmtree(staging, ignore_errors=True)
    return dest
