"""`python tests/gated_worker.py --gate DIR --config PATH [worker args]`: the real worker process
(worker/__main__.py) with its renders held at a FileGate until the test creates DIR/open, and
short leases so that a killed worker's job is taken over within seconds (tests/gated_engine.py)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> int:
    from engine.from_settings import make_engine
    from pipeline.retry_policy import RetryPolicy
    from pipeline.tuning import Tuning
    from tests.gated_engine import GatedEngine, gated_process_args
    from worker.__main__ import main as worker_main

    gate, rest, settings = gated_process_args(sys.argv[1:])
    # Short leases ([queue] in the test's config: render 6 s, delivery 30 s) and heartbeats.
    tuning = Tuning(status_interval=0.5, idle_poll=0.5, heartbeat=1.0,
                    retry=RetryPolicy(immediate_attempts=3, immediate_base_s=0.1, park_base_s=0.5, park_cap_s=2.0))
    return worker_main(rest, engine=GatedEngine(make_engine(settings), gate), tuning=tuning)  # type: ignore[arg-type]


if __name__ == "__main__":
    sys.exit(main())
