"""One direction: the platform package calls into ``ml``; nothing under ``ml/`` imports the platform.

Read from the source (every ``import`` and ``from ... import`` statement, at module level or inside
a function, and ``importlib.import_module``/``__import__`` of a literal name), so a lazy import
inside a function body is caught as well as a top-level one.
"""

from __future__ import annotations

import ast
from pathlib import Path

import ml

PLATFORM = "bankmkt"
ML_DIR = Path(ml.__file__).parent


def imported_modules(tree: ast.AST) -> list[tuple[int, str]]:
    """``(line, module)`` of every absolute import in ``tree``, literal dynamic imports included."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", None)
            if name in ("import_module", "__import__") and isinstance(node.args[0].value, str):
                found.append((node.lineno, node.args[0].value))
    return found


def platform_imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    return [
        f"{path.relative_to(ML_DIR.parent)}:{line} imports {module}"
        for line, module in imported_modules(tree)
        if module.split(".")[0] == PLATFORM
    ]


def test_no_module_under_ml_imports_the_platform_package():
    modules = sorted(ML_DIR.rglob("*.py"))
    assert len(modules) > 5  # the package's own modules were found
    offenders = [line for path in modules for line in platform_imports(path)]
    assert not offenders, "ml must not import bankmkt; pass what it needs as arguments:\n" + "\n".join(offenders)


def test_the_check_sees_every_kind_of_import(tmp_path):
    source = tmp_path / "module.py"
    source.write_text(
        "import bankmkt\n"
        "from bankmkt.settings import get_settings\n"
        "def later():\n"
        "    from bankmkt import campaigns\n"
        "    import importlib\n"
        "    importlib.import_module('bankmkt.pseudonyms')\n"
        "from ml import PRODUCTS\n"
    )
    modules = sorted(module for _, module in imported_modules(ast.parse(source.read_text())))
    assert modules == ["bankmkt", "bankmkt", "bankmkt.pseudonyms", "bankmkt.settings", "importlib", "ml"]


def test_the_platform_uses_mls_run_date_parser_and_atomic_writer_not_copies():
    from bankmkt import runtime
    from ml import runtime as ml_runtime

    assert runtime.parse_run_date is ml_runtime.parse_run_date
    assert runtime.write_atomically is ml_runtime.write_atomically
