"""The skeleton every stage shares: give up jobs out of attempts, claim a job, hold its lease (a
heartbeat renews it while the work runs), run the work in one of `concurrency` slots, turn any
error into a decision, sleep until a wake-up or the next due time, stop cleanly.

A stage provides only `claim`, `work` and `after_error` (what an unexpected error means for its
job: retried later or failed, never left hanging). It knows nothing of the other stages; they meet
in the database (a job's status says which stage it waits for) and wake each other in-process
through `wake()`. Each could run in its own process.

Idle stages do not poll: they wait for a wake-up, or until the database says the next parked job
is due or the next lease runs out (a dead stage's job to take over), capped at `Tuning.idle_poll`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Generic, Protocol, TypeVar

from pipeline.tuning import Tuning
from settings import Settings
from storage import Database, JobKind, JobStatus, jobs
from storage.jobs import ClaimedJob, JobRecord

log = logging.getLogger(__name__)


class Lease:
    """A claim's hold on its job while a stage works on it: renewed every heartbeat on the
    database's clock. `lost` is set once a renewal found the job no longer this claim's (it was
    taken over after the lease expired, or it ended); the stage's `on_lost` is told once."""

    def __init__(self, db: Database, job: ClaimedJob, seconds: float, heartbeat: float,
                 on_lost: Callable[[], None] = lambda: None,
                 on_cancel_requested: Callable[[], None] | None = None) -> None:
        self.db = db
        self.job = job
        self.seconds = seconds
        self.heartbeat = heartbeat
        self.lost = False
        self.renewals = 0
        self._on_lost = on_lost
        self._on_cancel_requested = on_cancel_requested

    async def renew(self) -> bool:
        if not await jobs.renew_lease(self.db, self.job, self.seconds):
            if not self.lost:
                self.lost = True
                self._on_lost()
            return False
        self.renewals += 1
        return True

    @asynccontextmanager
    async def kept(self) -> AsyncIterator[Lease]:
        """Renew the lease every heartbeat while the block runs; a /cancel made elsewhere (another
        process) is passed on at each beat when the stage asks for it."""

        async def beat() -> None:
            while True:
                await asyncio.sleep(self.heartbeat)
                try:
                    if not await self.renew():
                        return
                    if self._on_cancel_requested is not None and await jobs.cancel_requested(self.db, self.job.id):
                        self._on_cancel_requested()
                except Exception as err:  # the database is away: the work goes on, the lease may lapse
                    log.warning("job %s: lease not renewed: %s", self.job.id, err)

        task = asyncio.create_task(beat(), name=f"job-{self.job.id}-heartbeat")
        try:
            yield self
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


class _Claimed(Protocol):
    @property
    def id(self) -> int: ...


T = TypeVar("T", bound=_Claimed)


class StageLoop(Generic[T]):
    """The loop of a stage, whatever it claims (a job; a /forget request, bot/forget.py): up to
    `concurrency` claimed items worked on at once, an idle wait between, a clean stop."""

    name = "stage"

    def __init__(self, *, db: Database, tuning: Tuning, owner: str, concurrency: int) -> None:
        self.db = db
        self.tuning = tuning
        self.owner = owner  # this process's name on its leases (each claim has its own token besides)
        self._slots = asyncio.Semaphore(concurrency)
        self._working: set[asyncio.Task[None]] = set()
        self._wake = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        # How a job this stage puts back in line is announced again (pipeline/dispatch.py); on one box
        # the stage's own loop finds it.
        self.redispatch: Callable[[int, datetime | None], None] = lambda job_id, at: None

    # --- to provide ----------------------------------------------------------------------------
    async def claim(self, job_id: int | None = None) -> T | None:
        """Take the next item (or job `job_id` only) under a new claim, None if none can be."""
        raise NotImplementedError

    async def work_on(self, item: T) -> None:
        """Everything the stage does with a claimed item, ending in an outcome recorded under its claim."""
        raise NotImplementedError

    async def before_claim(self) -> None:
        """Called before each claim (the job stages give up jobs out of attempts here)."""

    async def seconds_until_due(self) -> float | None:
        """When this stage may have work without a wake-up (None: only a wake-up brings work)."""
        return None

    async def before_first_claim(self) -> bool:
        """Set-up before claiming anything; False: do not claim at all (e.g. the model failed)."""
        return True

    def interrupt(self) -> None:
        """Ask the work in progress to stop (shutdown); it is waited for, up to the stop timeout."""

    # --- lifecycle -----------------------------------------------------------------------------
    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=self.name)

    def wake(self) -> None:
        self._wake.set()

    async def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        self.interrupt()
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)
        if self._working:
            _, late = await asyncio.wait(self._working, timeout=self.tuning.stop_timeout)
            for task in late:  # stuck: its job is taken up again by the next run (lease)
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
        log.info("%s stopped", self.name)

    async def run_dispatched(self, job_id: int) -> float | None:
        """Work on job `job_id` (a task a dispatcher sent), in this stage's slots. Returns None when
        it is over (or was never this stage's), else seconds to wait before trying again: the job
        is parked, or another stage holds its lease (it may be dead: the lease will tell)."""
        async with self._slots:
            await self._before_claim()
            job = await self.claim(job_id)
            if job is None:
                return await jobs.retry_in(self.db, job_id)
            task = asyncio.current_task()
            if task is not None:
                self._working.add(task)
            try:
                await self.work_on(job)
            finally:
                if task is not None:
                    self._working.discard(task)
            return None

    # --- the loop ------------------------------------------------------------------------------
    async def _run(self) -> None:
        if not await self.before_first_claim():
            return
        while not self._stopping:
            await self._slots.acquire()
            if self._stopping:
                self._slots.release()
                break
            self._wake.clear()  # before claiming, so a wake-up during the claim is not missed
            await self._before_claim()
            try:
                job = await self.claim()
            except Exception:
                log.exception("%s: claiming a job failed", self.name)
                job = None
            if job is None:
                self._slots.release()
                await self._idle()
                continue
            task = asyncio.create_task(self._work_then_free(job), name=f"{self.name}-{job.id}")
            self._working.add(task)
            task.add_done_callback(self._working.discard)

    async def _before_claim(self) -> None:
        try:
            await self.before_claim()
        except Exception:  # the database is away: the claim below finds nothing either
            log.exception("%s: before claiming", self.name)

    async def _work_then_free(self, job: T) -> None:
        try:
            await self.work_on(job)
        except Exception:  # e.g. the database went away: the lease lapses and the item is taken up again
            log.exception("%s: %s failed unexpectedly", self.name, job.id)
        finally:
            self._slots.release()
            self._wake.set()  # a slot is free: look for the next job

    async def _idle(self) -> None:
        """Wait for a wake-up, the next due time, or the idle cap, whichever is first."""
        timeout = self.tuning.idle_poll
        try:
            due = await self.seconds_until_due()
        except Exception:
            due = None
        if due is not None:
            timeout = max(0.05, min(timeout, due + 0.05))  # just past it: the database's clock decides
        try:
            await asyncio.wait_for(self._wake.wait(), timeout=timeout)
        except TimeoutError:
            pass


class Stage(StageLoop[ClaimedJob]):
    """A stage of the job pipeline: the loop above, plus what every job stage does around its
    work. It gives up jobs out of attempts before it claims (their owners are told), holds the
    claim's lease while it works, and turns any error its work raises into a decision
    (`after_error`)."""

    waits_in = JobStatus.QUEUED  # the status its jobs wait in (parked ones: for the idle timer) ...
    kinds: tuple[JobKind, ...] | None = None  # ... and their kinds (None: any)
    leased_in = JobStatus.RUNNING  # the status its leased jobs are in (an expiry is a takeover)

    def __init__(self, *, db: Database, settings: Settings, tuning: Tuning, owner: str, concurrency: int,
                 lease_seconds: float, max_attempts: int) -> None:
        super().__init__(db=db, tuning=tuning, owner=owner, concurrency=concurrency)
        self.settings = settings
        self.lease_seconds = lease_seconds
        self.max_attempts = max_attempts

    # --- to provide ----------------------------------------------------------------------------
    async def work(self, job: ClaimedJob, lease: Lease) -> None:
        """Everything the stage does with a claimed job, ending in an outcome recorded under its claim."""
        raise NotImplementedError

    async def after_error(self, job: ClaimedJob, error: Exception) -> None:
        """`work` raised: decide (retry later or fail), under the job's claim."""
        raise NotImplementedError

    async def tell_given_up(self, given_up: Sequence[JobRecord]) -> None:
        """Jobs failed for having used all their attempts: tell their owners."""

    def make_lease(self, job: ClaimedJob) -> Lease:
        return Lease(self.db, job, self.lease_seconds, self.tuning.heartbeat)

    # --- the skeleton --------------------------------------------------------------------------
    async def before_claim(self) -> None:
        """Fail this stage's jobs whose attempts are used up (each killed its stage), and say so."""
        given_up = await jobs.give_up_exhausted(self.db, self.kinds, self.max_attempts,
                                                f"failed after {self.max_attempts} attempts without an outcome")
        if given_up:
            log.warning("%s: job(s) %s failed after %d attempts", self.name, [j.id for j in given_up],
                        self.max_attempts)
            await self.tell_given_up(given_up)

    async def seconds_until_due(self) -> float | None:
        """A parked job due, or a lease running out (a dead stage's job to take over)."""
        return await jobs.seconds_until_due(self.db, self.waits_in, self.kinds, self.leased_in, others_than=self.owner)

    async def work_on(self, item: ClaimedJob) -> None:
        """The work under its lease; an error ends in a decision (after_error), and if even that
        cannot be recorded the lease lapses and the job is claimed again (its attempt counted)."""
        lease = self.make_lease(item)
        try:
            async with lease.kept():
                await self.work(item, lease)
        except Exception as err:
            log.exception("%s: job %s failed unexpectedly", self.name, item.id)
            try:
                await self.after_error(item, err)
            except Exception:
                log.exception("%s: job %s: recording the failure failed; taken up again when its lease "
                              "expires", self.name, item.id)
