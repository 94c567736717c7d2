"""The data/ layout (also in the README):

    data/bot.db            SQLite database (storage.url)
    data/tmp/<job id>/     a job's downloads and partial render; removed when the job ends
    data/renders/<id>.mp4  finished videos, kept for re-delivery after a crash; deleted after
                           storage.retention_days by the daily clean-up
    data/conversions/<id>.<ext>  round notes, stickers and GIFs made from renders; deleted with them
    data/cache/            the engine's cache (engine.cache_dir)
"""

from __future__ import annotations

from pathlib import Path


def tmp_dir(data_dir: Path, job_id: int) -> Path:
    return data_dir / "tmp" / str(job_id)


def renders_dir(data_dir: Path) -> Path:
    return data_dir / "renders"


def render_path(data_dir: Path, job_id: int) -> Path:
    return renders_dir(data_dir) / f"{job_id}.mp4"


def conversions_dir(data_dir: Path) -> Path:
    return data_dir / "conversions"
