"""`python tests/gated_worker.py --gate DIR --config PATH [worker args]`: the real worker process
(worker/__main__.py) with its renders held at a FileGate until the test creates DIR/open, and
short leases so that a killed worker's job is taken over within seconds (tests/gated_engine.py)."""

from __future__ import annotations

import sys
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> int:
    args = sys.argv[1:]
    gate_dir = Path(args[args.index("--gate") + 1])
    rest = [a for i, a in enumerate(args) if a != "--gate" and (i == 0 or args[i - 1] != "--gate")]

    from bot.retry_policy import RetryPolicy
    from bot.tuning import Tuning
    from engine.from_settings import make_engine
    from settings import load_settings
    from tests.gated_engine import FileGate, GatedEngine
    from worker.__main__ import main as worker_main

    settings = load_settings(rest[rest.index("--config") + 1])
    engine = GatedEngine(make_engine(settings), FileGate(gate_dir))
    tuning = Tuning(status_interval=0.5, idle_poll=0.5, heartbeat=1.0, render_lease=timedelta(seconds=6),
                    delivery_lease=timedelta(seconds=30), conversion_lease=timedelta(seconds=6),
                    retry=RetryPolicy(immediate_attempts=3, immediate_base_s=0.1, park_base_s=0.5, park_cap_s=2.0))
    return worker_main(rest, engine=engine, tuning=tuning)  # type: ignore[arg-type]


if __name__ == "__main__":
    sys.exit(main())
