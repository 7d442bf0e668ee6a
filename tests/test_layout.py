"""The layout issue 19 asks for: ``host`` (the laptop's tools) imports nothing from
``hwsim`` (the simulator). The simulator may use host's readers and writers; the host
tools work on recordings, whoever made them, and install without the simulator."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def _imported_modules(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every import in ``path``, at any depth (lazy imports in functions
    too), and of ``importlib.import_module("...")``/``__import__("...")`` with a literal."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
        elif (
            isinstance(node, ast.Call)
            and getattr(node.func, "attr", getattr(node.func, "id", ""))
            in ("import_module", "__import__")
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            found.append((node.lineno, node.args[0].value))
    return found


def test_host_imports_nothing_from_hwsim():
    offending = [
        f"{path.relative_to(REPO)}:{line}: {module}"
        for path in sorted((REPO / "host").rglob("*.py"))
        for line, module in _imported_modules(path)
        if module == "hwsim" or module.startswith("hwsim.")
    ]
    assert offending == [], "host imports the simulator:\n" + "\n".join(offending)


def test_the_scan_sees_every_kind_of_import(tmp_path):
    """The check above must be able to fail: each way of importing is found."""
    sample = tmp_path / "sample.py"
    sample.write_text(
        "import hwsim.board\n"
        "from hwsim.physiology import draw_subject\n"
        "def later():\n"
        "    from hwsim import cohort\n"
        "    import importlib\n"
        "    importlib.import_module('hwsim.workers')\n",
        encoding="utf-8",
    )
    modules = [m for _, m in _imported_modules(sample)]
    assert modules == ["hwsim.board", "hwsim.physiology", "hwsim", "importlib", "hwsim.workers"]


def test_host_cohort_says_where_the_cohort_moved(capsys):
    from host.__main__ import main

    assert main(["cohort", "--subjects", "3"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        "error: the simulated cohort is made by the simulator: python -m hwsim.cohort "
        "--subjects 3 (host reads the files it writes)"
    ]
