"""The Celery tasks a worker runs: each names a job; the runtime's stage takes it by a conditional
update and works on it. A job that cannot be taken yet (parked, or leased by a worker that may have
died) is retried when it can be: that is how a dead worker's job is taken over."""

from __future__ import annotations

from celery import Celery, Task

from pipeline.dispatch import CONVERT_TASK, RENDER_TASK
from worker.runtime import WorkerRuntime


def register(app: Celery, runtime: WorkerRuntime) -> None:
    @app.task(name=RENDER_TASK, bind=True, max_retries=None)  # type: ignore[untyped-decorator]  # Celery is untyped
    def render(task: Task, job_id: int) -> None:
        stages = runtime.stages
        assert stages is not None  # start() returned: the stages exist before any task is taken
        wait = runtime.call(lambda: stages.render.run_dispatched(job_id))
        if wait is not None:
            raise task.retry(countdown=wait)

    @app.task(name=CONVERT_TASK, bind=True, max_retries=None)  # type: ignore[untyped-decorator]  # Celery is untyped
    def convert(task: Task, job_id: int) -> None:
        stages = runtime.stages
        assert stages is not None  # start() returned: the stages exist before any task is taken
        wait = runtime.call(lambda: stages.conversion.run_dispatched(job_id))
        if wait is not None:
            raise task.retry(countdown=wait)
