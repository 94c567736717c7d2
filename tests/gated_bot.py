"""`python tests/gated_bot.py --gate DIR --config PATH`: the real bot process (bot/__main__.py)
with its renders held at a FileGate until the test creates DIR/open (tests/gated_engine.py)."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> int:
    args = sys.argv[1:]
    gate_dir = Path(args[args.index("--gate") + 1])
    rest = [a for i, a in enumerate(args) if a != "--gate" and (i == 0 or args[i - 1] != "--gate")]

    from bot.__main__ import main as bot_main
    from engine.from_settings import make_engine
    from settings import load_settings
    from tests.gated_engine import FileGate, GatedEngine

    settings = load_settings(rest[rest.index("--config") + 1])
    engine = GatedEngine(make_engine(settings), FileGate(gate_dir))
    return bot_main(rest, engine=engine)  # type: ignore[arg-type]


if __name__ == "__main__":
    sys.exit(main())
