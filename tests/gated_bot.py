"""`python tests/gated_bot.py --gate DIR [--real-engine] [--forget-gate DIR2] --config PATH`: the real
bot process (bot/__main__.py) rendering with the fake engine (tests/fake_engine.py; the real one with
--real-engine) with its renders held at a FileGate until the test creates DIR/open
(tests/gated_engine.py), and, with --forget-gate, every /forget held before its `files` step (the
sticker pack already deleted, the files and rows not yet) until the test creates DIR2/open; the
held request leaves DIR2/entered."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def hold_forget(folder: Path, before: str = "files") -> None:
    from bot.forget import ForgetStage

    async def held(step: str) -> None:
        if step != before:
            return
        (folder / "entered").touch()
        while not (folder / "open").exists():
            await asyncio.sleep(0.02)

    folder.mkdir(parents=True, exist_ok=True)
    ForgetStage.before_step = staticmethod(held)  # type: ignore[assignment]


def main() -> int:
    from bot.__main__ import main as bot_main
    from tests.gated_engine import gated_process_args, process_engine

    argv = sys.argv[1:]
    if "--forget-gate" in argv:
        at = argv.index("--forget-gate")
        hold_forget(Path(argv[at + 1]))
        argv = argv[:at] + argv[at + 2:]
    gate, real, rest, settings = gated_process_args(argv)
    return bot_main(rest, engine=process_engine(settings, gate, real))


if __name__ == "__main__":
    sys.exit(main())
