"""What every stage does around its work: claim a job, run up to `concurrency` of them at once,
sleep until a wake-up or the next parked job's time, stop cleanly.

A stage knows nothing of the others; they meet in the database (a job's status says which stage
it waits for) and wake each other in-process through `wake()`. Each could run in its own process.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime

from pipeline.tuning import Tuning
from storage import Database, Job, JobKind, JobStatus, jobs
from storage.models import utcnow

log = logging.getLogger(__name__)


class Stage:
    name = "stage"
    waits_in = JobStatus.QUEUED  # the status its parked jobs wait in (for the idle timer) ...
    kinds: tuple[JobKind, ...] | None = None  # ... and their kinds (None: any)

    def __init__(self, db: Database, tuning: Tuning, owner: str, concurrency: int) -> None:
        self.db = db
        self.tuning = tuning
        self.owner = owner
        self._slots = asyncio.Semaphore(concurrency)
        self._working: set[asyncio.Task[None]] = set()
        self._wake = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        # How a job this stage puts back in line is announced again (pipeline/dispatch.py); on one box
        # the stage's own loop finds it.
        self.redispatch: Callable[[int, datetime | None], None] = lambda job_id, at: None

    # --- to provide ----------------------------------------------------------------------------
    async def claim(self, job_id: int | None = None) -> Job | None:
        """Take the next job (or job `job_id` only) under this stage's lease, None if none can be."""
        raise NotImplementedError

    async def work(self, job: Job) -> None:
        raise NotImplementedError

    async def before_first_claim(self) -> bool:
        """Set-up before claiming anything; False: do not claim at all (e.g. the model failed)."""
        return True

    def interrupt(self) -> None:
        """Ask the work in progress to stop (shutdown); it is waited for, up to the stop timeout."""

    async def next_due(self) -> datetime | None:
        """When the earliest job this stage parked becomes due (None: nothing parked)."""
        return await jobs.next_due(self.db, self.waits_in, self.kinds)

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
            job = await self.claim(job_id)
            if job is None:
                return await jobs.retry_in(self.db, job_id)
            task = asyncio.current_task()
            if task is not None:
                self._working.add(task)
            try:
                await self.work(job)
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

    async def _work_then_free(self, job: Job) -> None:
        try:
            await self.work(job)
        except Exception:  # e.g. the database went away: the lease lapses and the job is taken up again
            log.exception("%s: job %s failed unexpectedly", self.name, job.id)
        finally:
            self._slots.release()
            self._wake.set()  # a slot is free: look for the next job

    async def _idle(self) -> None:
        """Wait for a wake-up, the next parked job's time, or the idle poll, whichever is first."""
        timeout = self.tuning.idle_poll
        try:
            due = await self.next_due()
        except Exception:
            due = None
        if due is not None:
            timeout = max(0.05, min(timeout, (due - utcnow()).total_seconds()))
        try:
            await asyncio.wait_for(self._wake.wait(), timeout=timeout)
        except TimeoutError:
            pass
