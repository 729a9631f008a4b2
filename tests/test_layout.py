"""The house shows its plan (issue 35): the kiosk's modules live in rooms named for the stage a frame passes
through, nothing in kiosk/ or tools/ grows past 500 lines, and nothing edits sys.path to find the project
(tools run as modules from the checkout: tools/README.md; the kiosk is a package: pyproject.toml)."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import ROOT

KIOSK = ROOT / "kiosk"
# The rooms, in the order a frame travels, and what each holds (their __init__ docstrings say more).
STAGES = ("capture", "vision", "door", "messages", "web", "bench")
# At the top only what ties the rooms together; a new module goes into a room.
TOP = {"__init__", "__main__", "assets", "cli", "closing", "config", "config_sections", "demo", "errors",
       "events", "outputs", "parts", "pipeline", "stats"}
MAX_LINES = 500


def python_files(*folders: Path) -> list[Path]:
    return sorted(f for folder in folders for f in folder.rglob("*.py") if "__pycache__" not in f.parts)


def test_the_kiosk_is_rooms_by_stage_with_only_the_ties_at_the_top():
    for stage in STAGES:
        init = KIOSK / stage / "__init__.py"
        assert init.is_file(), stage
        assert ast.get_docstring(ast.parse(init.read_text())), f"{init} says what the room holds"
        assert len(list((KIOSK / stage).glob("*.py"))) >= 2, stage
    top = {f.stem for f in KIOSK.glob("*.py")}
    assert top == TOP, f"modules at the top that belong in a room: {sorted(top - TOP)}; gone: {sorted(TOP - top)}"


def test_no_file_in_kiosk_or_tools_is_over_500_lines():
    long = {str(f.relative_to(ROOT)): n for f in python_files(KIOSK, ROOT / "tools")
            if (n := len(f.read_text().splitlines())) > MAX_LINES}
    assert not long, long


def sys_path_edits(path: Path) -> list[int]:
    """Lines that change sys.path: sys.path.insert/append/extend(...), or sys.path = / += ..."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Attribute) and node.attr in ("insert", "append", "extend", "__setitem__"):
            v = node.value
            if isinstance(v, ast.Attribute) and v.attr == "path" and isinstance(v.value, ast.Name) \
                    and v.value.id == "sys":
                found.append(node.lineno)
        elif isinstance(node, (ast.Assign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for t in targets:
                if isinstance(t, ast.Attribute) and t.attr == "path" and isinstance(t.value, ast.Name) \
                        and t.value.id == "sys":
                    found.append(node.lineno)
    return sorted(found)


def test_the_sys_path_check_sees_an_edit(tmp_path):
    f = tmp_path / "x.py"
    f.write_text("import sys\nsys.path.insert(0, 'a')\nsys.path += ['b']\nprint(sys.path)\n")
    assert sys_path_edits(f) == [2, 3]


def test_nothing_in_kiosk_or_tools_edits_sys_path():
    edits = {str(f.relative_to(ROOT)): lines for f in python_files(KIOSK, ROOT / "tools")
             if (lines := sys_path_edits(f))}
    assert not edits, edits


def test_no_import_is_held_back_below_code():
    """E402 (an import after code) was how the tools found the project; none is left."""
    late = []
    for f in python_files(KIOSK, ROOT / "tools"):
        body = ast.parse(f.read_text()).body
        seen_code = False
        for node in body:
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                if seen_code:
                    late.append(f"{f.relative_to(ROOT)}:{node.lineno}")
            elif not (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)) \
                    and not isinstance(node, (ast.If, ast.Try)):  # a docstring; guarded optional imports
                seen_code = True
    assert not late, late
