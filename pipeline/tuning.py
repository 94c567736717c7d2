"""Timings of the stages that tests shorten; production uses the defaults.

Limits users and operators care about (deadlines, attempts, flood control, lease lengths) are in
config.toml; these are the internal rhythms: how often to edit a status message or renew a lease.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from pipeline.retry_policy import RetryPolicy


@dataclass(frozen=True)
class Tuning:
    status_interval: float = 3.0  # seconds between status edits (doubled in groups)
    # The longest an idle stage waits before looking at the database again. Stages are woken when
    # work arrives (dispatch) and wait for the next parked job or expiring lease on their own, so
    # this only bounds what nothing announced (e.g. a cached answer queued by the bot for a worker).
    idle_poll: float = 15.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    forget_lease: timedelta = timedelta(minutes=2)  # a /forget request: renewed at every step
    heartbeat: float = 10.0  # seconds between lease renewals (and checks for a /cancel); [queue] leases ≥ 2x this
    stop_timeout: float = 60.0  # graceful stop: a render stops at its next batch within this
    clean_up_first: timedelta = timedelta(minutes=5)
    clean_up_every: timedelta = timedelta(days=1)
    grid_ttl: timedelta = timedelta(minutes=15)  # a /grid collection left open this long expires
    grid_sweep_every: timedelta = timedelta(minutes=1)  # how often expired collections are closed
    reconcile_every: timedelta = timedelta(minutes=1)  # workers mode: look for forgotten jobs ...
    stuck_after: timedelta = timedelta(minutes=10)  # ... that waited in line, due, this long
