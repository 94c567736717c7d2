"""`python -m worker --config PATH [--queues render,convert] [--http-port N]`: a render worker.

Run it on any host that has the checkpoint, the templates and the data folder (shared with the bot
and the other workers), and reaches the database (PostgreSQL) and the broker (`[queue].broker_url`).
It loads the engine once, then takes one task at a time from its queues (Celery, late acks,
prefetch 1), renders or converts, hands the result over and delivers it itself. SIGTERM: the
running job stops at its next step and goes back in line for another worker; then it exits.

`python -m worker --config PATH celery inspect active` (or any `celery` command) talks to the same
broker: `inspect ping` lists the workers.
"""

from __future__ import annotations

import argparse
import logging
import os
import socket
import sys
from typing import TYPE_CHECKING

from settings import ConfigError, load_settings

if TYPE_CHECKING:
    from pipeline.renderer import Renderer
    from pipeline.tuning import Tuning

log = logging.getLogger("worker")


def main(argv: list[str] | None = None, engine: Renderer | None = None, tuning: Tuning | None = None) -> int:
    """`engine`/`tuning`: for a harness that runs this same process with an engine it controls."""
    parser = argparse.ArgumentParser(prog="python -m worker", description="A 蚂蚁呀嘿 render worker.")
    parser.add_argument("--config", default=None, help="path to config.toml (default: the repository's)")
    parser.add_argument("--queues", default=None, help="queues to take tasks from (default: the render and "
                                                         "conversion queues of [queue])")
    parser.add_argument("--http-port", type=int, default=0, help="serve /healthz and /metrics here (0: off)")
    parser.add_argument("celery", nargs=argparse.REMAINDER, help="`celery ...`: run a celery command instead")
    args = parser.parse_args(argv)
    from ops.process import begin, import_paddle_early, refuse
    from ops.startup_checks import StartupError
    from pipeline.dispatch import make_celery

    if args.celery:  # e.g. `celery inspect ping`: the same app, broker and queues
        try:
            settings = load_settings(args.config)
        except ConfigError as err:
            return refuse(err)
        make_celery(settings).start(argv=args.celery[1:] if args.celery[0] == "celery" else args.celery)
        return 0
    try:
        settings = begin(args.config, renders_here=True)
    except StartupError as err:
        return refuse(err)
    app = make_celery(settings)

    from celery.signals import worker_shutting_down

    from pipeline.tuning import Tuning as DefaultTuning
    from worker.runtime import WorkerFailed, WorkerRuntime
    from worker.tasks import register

    if engine is None:  # a harness's renderer brings its own (tests/gated_engine.py)
        import_paddle_early(settings, always=False)  # before Celery hooks SIGTERM
    runtime = WorkerRuntime(settings, tuning or DefaultTuning(), engine, args.http_port)
    try:
        runtime.start()
    except WorkerFailed as err:
        return refuse(err, 1)
    register(app, runtime)
    worker_shutting_down.connect(lambda **_: runtime.interrupt(), weak=False)
    queues = args.queues or f"{settings.queue.render_queue},{settings.queue.conversion_queue}"
    try:
        # Threads, one at a time: the task thread waits on the runtime's loop while Celery's own
        # thread keeps the broker connection (and its heartbeats) alive during a long render.
        app.worker_main(["worker", "--pool=threads", "--concurrency=1", "--queues", queues,
                         "--hostname", f"yahey@{socket.gethostname()}-{os.getpid()}", "--loglevel",
                         settings.logging.level, "--without-mingle", "--without-gossip", "--task-events"])
    finally:
        runtime.stop()
    log.info("worker stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
