"""`python tests/gated_bot.py --gate DIR --config PATH`: the real bot process (bot/__main__.py)
with its renders held at a FileGate until the test creates DIR/open (tests/gated_engine.py)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> int:
    from bot.__main__ import main as bot_main
    from engine.from_settings import make_engine
    from tests.gated_engine import GatedEngine, gated_process_args

    gate, rest, settings = gated_process_args(sys.argv[1:])
    return bot_main(rest, engine=GatedEngine(make_engine(settings), gate))  # type: ignore[arg-type]


if __name__ == "__main__":
    sys.exit(main())
