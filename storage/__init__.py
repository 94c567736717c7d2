"""Persistent state of the bot: users, photo offers and the job queue, in SQLite (SQLAlchemy 2 async).

No telegram, no paddle imports here: the bot passes plain values in and gets rows back.
"""

from storage.db import Database
from storage.from_settings import make_database
from storage.migrate import upgrade_to_head
from storage.models import Base, Job, JobKind, JobStatus, Offer, OwnedTemplate, OwnerKind, User

__all__ = ["Base", "Database", "Job", "JobKind", "JobStatus", "Offer", "OwnedTemplate", "OwnerKind", "User",
           "make_database", "upgrade_to_head"]
