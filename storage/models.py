"""Tables: users, offers (a photo the template keyboard was shown for) and jobs (the queue).

Times are naive UTC (SQLite has no time zones); `utcnow()` is the one source of them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum

from sqlalchemy import BigInteger, Boolean, DateTime, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


class Base(DeclarativeBase):
    pass


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"  # claimed by the worker, rendering (or importing a template)
    DELIVERING = "delivering"  # rendered to result_path; the video is being sent
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


ACTIVE_STATUSES = (JobStatus.QUEUED, JobStatus.RUNNING, JobStatus.DELIVERING)
FINISHED_STATUSES = (JobStatus.DONE, JobStatus.FAILED, JobStatus.CANCELLED)


class JobKind(StrEnum):
    RENDER = "render"
    TEMPLATE_IMPORT = "template_import"  # an admin's /addtemplate: GPU work, so it queues like a render


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)  # Telegram user id
    language: Mapped[str] = mapped_column(String(16), default="en")  # Telegram language_code
    first_seen: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    last_seen: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class Offer(Base):
    """A photo someone asked to animate; the keyboard's buttons point here (callback data is 64 bytes)."""

    __tablename__ = "offers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    chat_id: Mapped[int] = mapped_column(BigInteger, index=True)
    owner_id: Mapped[int] = mapped_column(BigInteger)  # the requester: only their presses count
    photo_message_id: Mapped[int] = mapped_column(BigInteger)
    file_id: Mapped[str] = mapped_column(String(256))
    file_unique_id: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)


class Job(Base):
    __tablename__ = "jobs"
    __table_args__ = (
        Index("ix_jobs_status_id", "status", "id"),  # FIFO claim and queue positions
        Index("ix_jobs_user_created", "user_id", "created_at"),  # daily quota, /status
        Index("ix_jobs_cache", "input_file_unique_id", "template_id"),  # file_id cache
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), default=JobKind.RENDER)
    user_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("users.id"))
    chat_id: Mapped[int] = mapped_column(BigInteger)
    source_message_id: Mapped[int] = mapped_column(BigInteger)  # the photo (or video) the result replies to
    status_message_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    language: Mapped[str] = mapped_column(String(16), default="en")
    # The input: the photo for a render, the video for a template import.
    input_file_id: Mapped[str] = mapped_column(String(256))
    input_file_unique_id: Mapped[str] = mapped_column(String(128))
    template_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    template_title: Mapped[str | None] = mapped_column(String(256), nullable=True)  # imports: the new title
    status: Mapped[str] = mapped_column(String(16), default=JobStatus.QUEUED)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    from_cache: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True, index=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)  # short code or one line
    result_path: Mapped[str | None] = mapped_column(Text, nullable=True)  # the render on disk
    result_width: Mapped[int | None] = mapped_column(Integer, nullable=True)
    result_height: Mapped[int | None] = mapped_column(Integer, nullable=True)
    result_duration: Mapped[float | None] = mapped_column(Float, nullable=True)
    result_file_id: Mapped[str | None] = mapped_column(String(256), nullable=True)
    render_seconds: Mapped[float | None] = mapped_column(Float, nullable=True)

    @property
    def active(self) -> bool:
        return self.status in ACTIVE_STATUSES
