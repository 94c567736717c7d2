"""The shape of the code: dependencies go bot → engine and bot → storage (worker → bot), never back,
and no module imports itself round a cycle — counting imports inside functions too (only
`if TYPE_CHECKING:` blocks are left out: they never run)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("bot", "engine", "storage", "worker")


def _modules() -> dict[str, Path]:
    found = {"settings": ROOT / "settings.py"}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


def _imports(path: Path, module: str, known: dict[str, Path]) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    never_run = {id(n) for node in ast.walk(tree)
                 if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test) for n in ast.walk(node)}
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in never_run:
            continue
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)] if node.level > 1 else anchor
                base = ".".join(anchor + ([base] if base else []))
            names = [f"{base}.{a.name}" for a in node.names] + [base]
        else:
            continue
        for name in names:
            while name and name not in known:  # "bot.handlers.grid.x" -> the module that holds x
                name = name.rpartition(".")[0]
            if name and name != module:
                out.add(name)
    return out


def _graph() -> dict[str, set[str]]:
    known = _modules()
    return {name: _imports(path, name, known) for name, path in known.items()}


def test_no_import_cycles_even_inside_functions():
    edges = _graph()

    def cycle_from(start: str, path: list[str]) -> list[str] | None:
        for nxt in sorted(edges[path[-1]]):
            if nxt == start:
                return path + [nxt]
            if nxt not in path and len(path) < 12 and (found := cycle_from(start, path + [nxt])):
                return found
        return None

    cycles = [c for m in sorted(edges) if (c := cycle_from(m, [m]))]
    assert not cycles, " -> ".join(cycles[0])


def test_dependencies_point_one_way():
    graph = _graph()

    def top(name: str) -> str:
        return name.split(".")[0]

    allowed = {
        "engine": {"engine", "settings"},  # pure compute: no Telegram, no SQL
        "storage": {"storage", "settings"},  # no Telegram, no paddle, no engine
        "bot": {"bot", "engine", "storage", "settings"},
        "worker": {"worker", "bot", "engine", "storage", "settings"},
        "settings": {"settings"},
    }
    wrong = [(m, d) for m, deps in graph.items() for d in deps if top(d) not in allowed[top(m)]]
    assert not wrong, wrong
    forbidden = {"engine": {"telegram", "sqlalchemy", "aiosqlite", "asyncpg", "celery"},
                 "storage": {"telegram", "paddle", "ppgan", "cv2", "celery"}}
    for package, libraries in forbidden.items():
        for path in (ROOT / package).rglob("*.py"):
            used = {top(name) for name in _external(path)}
            assert not used & libraries, (path, used & libraries)


def _external(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            names.add(node.module)
    return names
