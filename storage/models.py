"""Tables: users, offers (a photo the template keyboard was shown for), jobs (the queue), owned
templates (users' and groups' own templates) and forget requests (a user's /forget, worked
through step by step under a lease).

Times are naive UTC (SQLite has no time zones); `utcnow()` is the one source of them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from enum import StrEnum

from sqlalchemy import BigInteger, Boolean, DateTime, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy import false as sa_false
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from storage.codecs import (
    CountsColumn,
    FaceBox,
    FaceBoxesColumn,
    GridInput,
    GridInputsColumn,
    OfferPhoto,
    OfferPhotosColumn,
    RenderChoices,
    RenderChoicesColumn,
    RenderNotes,
    RenderNotesColumn,
    StepsColumn,
)


def system_utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


# Where utcnow() reads the time: the system clock. A test may put a simulated clock here (one per
# simulated host; tests/pipeline/test_simulation.py): every caller, column defaults included, follows.
clock: Callable[[], datetime] = system_utcnow


def utcnow() -> datetime:
    return clock()


class Base(DeclarativeBase):
    pass


class JobStatus(StrEnum):
    QUEUED = "queued"  # waiting for the render stage (maybe until next_attempt_at)
    RUNNING = "running"  # claimed by a render stage (lease_owner), rendering or importing a template
    DELIVERING = "delivering"  # rendered to result_path; the delivery stage sends it
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


ACTIVE_STATUSES = (JobStatus.QUEUED, JobStatus.RUNNING, JobStatus.DELIVERING)
RENDER_STATUSES = (JobStatus.QUEUED, JobStatus.RUNNING)  # in line for (or in) the render stage
FINISHED_STATUSES = (JobStatus.DONE, JobStatus.FAILED, JobStatus.CANCELLED)


class JobKind(StrEnum):
    RENDER = "render"
    GRID = "grid"  # several photos, one tile each, one video (`inputs`)
    TEMPLATE_IMPORT = "template_import"  # an admin's /addtemplate: GPU work, so it queues like a render
    TEMPLATE_DELETE = "template_delete"  # an admin's /deltemplate: never under a running render
    CONVERT = "convert"  # a kept render re-encoded as `output_kind` (ffmpeg only, no render lock)
    OWN_TEMPLATE = "own_template"  # a user's /template NAME: an import like an admin's, for its owner


RENDER_STAGE_KINDS = (JobKind.RENDER, JobKind.GRID, JobKind.TEMPLATE_IMPORT, JobKind.TEMPLATE_DELETE,
                      JobKind.OWN_TEMPLATE)
QUOTA_KINDS = (JobKind.RENDER, JobKind.GRID, JobKind.OWN_TEMPLATE)  # what the daily quota counts (by `cost`)


VIDEO_OUTPUT = "video"  # engine.OutputKind.VIDEO: a job that sends the render itself


class OfferKind(StrEnum):
    PHOTO = "photo"
    ALBUM = "album"  # a private album of 2-9 photos: one grid
    GRID = "grid"  # a group's /grid collection: photos replied to it, from several people


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)  # Telegram user id
    language: Mapped[str] = mapped_column(String(16), default="en")  # Telegram language_code
    # chosen by /language; None: follow Telegram
    chosen_language: Mapped[str | None] = mapped_column(String(16), nullable=True)
    first_seen: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    last_seen: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    sticker_set: Mapped[str | None] = mapped_column(String(64), nullable=True)  # their own pack, once made
    # The random part of the names of packs made for them (pipeline/sticker_pack.py), made on first need
    pack_suffix: Mapped[str | None] = mapped_column(String(16), nullable=True)


class Offer(Base):
    """A photo someone asked to animate; the keyboard's buttons point here (callback data is 64 bytes)."""

    __tablename__ = "offers"
    __table_args__ = {"sqlite_autoincrement": True}  # ids never reused: old buttons never name a new offer

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    chat_id: Mapped[int] = mapped_column(BigInteger, index=True)
    owner_id: Mapped[int] = mapped_column(BigInteger)  # the requester: only their presses count
    photo_message_id: Mapped[int] = mapped_column(BigInteger)
    file_id: Mapped[str] = mapped_column(String(256))
    file_unique_id: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)
    kind: Mapped[str] = mapped_column(String(16), default=OfferKind.PHOTO, server_default=OfferKind.PHOTO)
    clean_background: Mapped[bool] = mapped_column(Boolean, default=False, server_default=sa_false())
    # Albums and grid collections: JSON list of {file_id, file_unique_id, message_id, user_id,
    # first_name, faces}, in the order they came.
    photos: Mapped[tuple[OfferPhoto, ...] | None] = mapped_column(OfferPhotosColumn, nullable=True)
    message_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)  # the keyboard/collecting message
    expires_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)  # grid collections
    closed: Mapped[bool] = mapped_column(Boolean, default=False, server_default=sa_false())


class Job(Base):
    __tablename__ = "jobs"
    __table_args__ = (
        Index("ix_jobs_status_id", "status", "id"),  # FIFO claim and queue positions
        Index("ix_jobs_user_created", "user_id", "created_at"),  # daily quota, /status
        Index("ix_jobs_result_key", "input_file_unique_id", "result_key"),  # file_id cache
        {"sqlite_autoincrement": True},  # ids never reused (old buttons, imports named by their job)
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
    # What the result depends on besides the photo: the template's content hash and the render
    # options (pipeline/result_cache.py). Two jobs with equal photo and key have interchangeable videos.
    result_key: Mapped[str | None] = mapped_column(String(64), nullable=True)
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
    rendered_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)  # handed to delivery
    # Retries: claims that ended without a decision (a crash, a kill, an unexpected error), by the
    # render/conversion stage and by the delivery stage; parked waits for Telegram; when to look again.
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    delivery_attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    parked_tries: Mapped[int] = mapped_column(Integer, default=0, server_default="0")  # waits for Telegram (backoff)
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    # The stage (process) working on the job, and until when (the database's clock); an expired
    # lease is taken over. `claim_token` is the one claim that holds the job: every change a stage
    # makes names it (several slots of one process share `lease_owner`).
    lease_owner: Mapped[str | None] = mapped_column(String(96), nullable=True)
    lease_until: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    claim_token: Mapped[str | None] = mapped_column(String(32), nullable=True)
    # Template imports: the name of the import in the templates folder (random, so a job id used
    # again never matches an old import; the same across the job's retries).
    import_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    # What is sent (the video, or a conversion of the render `parent_job_id`), and what it cost.
    # A value of engine.OutputKind, kept as text: storage imports nothing of the engine.
    output_kind: Mapped[str] = mapped_column(String(16), default=VIDEO_OUTPUT, server_default=VIDEO_OUTPUT)
    parent_job_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    cost: Mapped[int] = mapped_column(Integer, default=1, server_default="1")  # against the daily quota
    # JSON text columns (storage/codecs.py): the requester's render choices, a grid's photos, the
    # animated faces in the render, what the render wants said.
    options: Mapped[RenderChoices | None] = mapped_column(RenderChoicesColumn, nullable=True)
    inputs: Mapped[tuple[GridInput, ...] | None] = mapped_column(GridInputsColumn, nullable=True)
    face_boxes: Mapped[tuple[FaceBox, ...] | None] = mapped_column(FaceBoxesColumn, nullable=True)
    notes: Mapped[RenderNotes | None] = mapped_column(RenderNotesColumn, nullable=True)

    @property
    def active(self) -> bool:
        return self.status in ACTIVE_STATUSES


class ForgetRequest(Base):
    """A confirmed /forget: everything of `user_id` is deleted, one step at a time (bot/forget.py),
    under a lease like a job's so that a restart in the middle finishes it. No foreign key: the
    user's row is one of the things it deletes; the request's own row goes last."""

    __tablename__ = "forget_requests"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(BigInteger, unique=True)
    chat_id: Mapped[int] = mapped_column(BigInteger)  # the private chat the confirmation goes to
    language: Mapped[str] = mapped_column(String(16), default="en")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    # JSON (storage/codecs.py): the finished steps' names, and what each step deleted.
    done_steps: Mapped[tuple[str, ...]] = mapped_column(StepsColumn, default=tuple, server_default="[]")
    counts: Mapped[Mapping[str, int]] = mapped_column(CountsColumn, default=dict, server_default="{}")
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    lease_owner: Mapped[str | None] = mapped_column(String(96), nullable=True)
    lease_until: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)


class OwnerKind(StrEnum):
    USER = "user"  # made in a private chat: shown to that user only
    CHAT = "chat"  # made in a group: shown in that group only


class OwnedTemplate(Base):
    """A template someone made from their own clip (/template NAME). The folder (`folder`, inside
    [user_templates].dir) is named by the clip's content: two owners of the same clip have a row
    each and share the folder and its cached motion; the folder goes when no row names it."""

    __tablename__ = "owned_templates"
    __table_args__ = (
        UniqueConstraint("owner_kind", "owner_id", "content_sha256", name="uq_owned_templates_owner_content"),
        Index("ix_owned_templates_owner", "owner_kind", "owner_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    owner_kind: Mapped[str] = mapped_column(String(8))
    owner_id: Mapped[int] = mapped_column(BigInteger)  # the user's id, or the group's chat id
    created_by: Mapped[int] = mapped_column(BigInteger)  # who sent it (in a group: may delete it)
    name: Mapped[str] = mapped_column(String(64))
    folder: Mapped[str] = mapped_column(String(128), index=True)
    content_sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    last_used_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)
