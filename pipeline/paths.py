"""The data/ layout (also in the README):

    data/bot.db            SQLite database (storage.url)
    data/tmp/<job id>/     a job's downloads and partial render; removed when the job ends
    data/renders/<id>-<claim>.mp4  finished videos, kept for re-delivery after a crash; deleted after
                           storage.retention_days by the daily clean-up
    data/conversions/<id>-<claim>.<ext>  round notes, stickers and GIFs made from renders; deleted with them
    data/cache/            the engine's cache (engine.cache_dir)
"""

from __future__ import annotations

from pathlib import Path


def tmp_dir(data_dir: Path, job_id: int) -> Path:
    return data_dir / "tmp" / str(job_id)


def renders_dir(data_dir: Path) -> Path:
    return data_dir / "renders"


def result_name(job_id: int, claim: str, ext: str) -> str:
    """A result is named by its job and the claim that made it: a stage that stalled past its lease
    (its job taken over) never overwrites the file of the claim that has the job now."""
    return f"{job_id}-{claim[:12]}.{ext}"


def render_path(data_dir: Path, job_id: int, claim: str) -> Path:
    return renders_dir(data_dir) / result_name(job_id, claim, "mp4")


def job_id_of(result: Path) -> int | None:
    """The job a result file belongs to (`12-<claim>.mp4`, or `12.mp4` as older versions named it)."""
    stem = result.name.split(".", 1)[0].split("-", 1)[0]
    return int(stem) if stem.isdigit() else None


def conversions_dir(data_dir: Path) -> Path:
    return data_dir / "conversions"
