"""The package's layout (docs/architecture.md): one folder per job, data flowing one way.

Imports are read from the source with ``ast`` (relative and function-level imports too,
not those under ``if TYPE_CHECKING:``), so a circle or an upward import fails here even
when it only happens inside a function.
"""

from __future__ import annotations

import ast
import subprocess
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "osdfilter"
REPO = PACKAGE.parent
MAX_LINES = 600
MAX_BYTES = 40_000  # no weights in source: they are data files in osdfilter/weights/
MAX_LINE_CHARS = 300
# Lower never imports higher; equal ranks do not import each other.
RANKS = {"errors": 0, "media": 1, "model": 1, "osd": 1, "masks": 2, "filter": 3, "api": 4, "train": 4, "preview": 5, "cli": 6,
         "console": 7}
TOP_LEVEL = {"pyproject.toml", "README.md", "LICENSE", "CHANGELOG.md", "osdfilter", "tests", "export", "examples", "docs", "benchmarks"}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _type_checking_lines(tree: ast.AST) -> set[int]:
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.body:
                lines.update(range(child.lineno, (child.end_lineno or child.lineno) + 1))
    return lines


def imports_of(name: str) -> set[str]:
    """The osdfilter modules ``name`` imports anywhere in its source."""
    path = MODULES[name]
    tree = ast.parse(path.read_text(), str(path))
    skip = _type_checking_lines(tree)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if getattr(node, "lineno", None) in skip:
            continue
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            # `from pkg import mod` imports the module pkg.mod; `from mod import name`, mod
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names]
        else:
            continue
        found.update(t for t in targets if t in MODULES and t != name)
    return found


GRAPH = {name: imports_of(name) for name in MODULES}


def test_no_import_circles():
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    circles = []

    def visit(name: str, path: list[str]) -> None:
        state[name] = 1
        for dep in sorted(GRAPH[name]):
            if state.get(dep) == 1:
                circles.append(path[path.index(dep):] + [dep] if dep in path else [name, dep])
            elif dep not in state:
                visit(dep, path + [dep])
        state[name] = 2

    for name in MODULES:
        if name not in state:
            visit(name, [name])
    assert not circles, "import circles: " + "; ".join(" -> ".join(c) for c in circles)


def _group(name: str) -> str:
    parts = name.split(".")
    return parts[1] if len(parts) > 1 else ""


def test_layers_import_downwards_only():
    upward = []
    for name, deps in GRAPH.items():
        group = _group(name)
        if group not in RANKS:  # the package root (lazy exports) and weights/
            continue
        for dep in deps:
            other = _group(dep)
            if other != group and other in RANKS and RANKS[other] >= RANKS[group]:
                upward.append(f"{name} -> {dep}")
    assert not upward, "imports against the layer order: " + ", ".join(sorted(upward))


def test_nothing_outside_train_and_cli_imports_the_trainer():
    offenders = [f"{name} -> {dep}" for name, deps in GRAPH.items() for dep in deps
                 if _group(dep) == "train" and _group(name) not in ("train", "cli")]
    assert not offenders, offenders


def test_modules_are_short_and_hold_no_data():
    too_long = {name: n for name, p in MODULES.items() if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert not too_long, f"modules over {MAX_LINES} lines: {too_long}"
    for p in PACKAGE.rglob("*.py"):
        assert p.stat().st_size <= MAX_BYTES, f"{p} is {p.stat().st_size} bytes: weights belong in osdfilter/weights/"
        widest = max((len(line) for line in p.read_text().splitlines()), default=0)
        assert widest <= MAX_LINE_CHARS, f"{p} has a line of {widest} characters"


def test_top_level_holds_only_the_users_layout():
    try:
        listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                                capture_output=True, text=True, check=True).stdout.split("\n")
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    top = {f.split("/")[0] for f in listed if f and not f.startswith(".")}
    assert top <= TOP_LEVEL, f"unexpected at the top level: {sorted(top - TOP_LEVEL)}"
