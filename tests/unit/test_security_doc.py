"""docs/security.md stays true to the code and to the standard.

- Every test it cites (`tests/…/file.py::test_name`, or `…::Class::test_name`) exists: the
  file is there and defines that function (read with `ast`, nothing is imported).
- Every file or folder of the repository it names in backticks exists.
- A pointer followed by "(lands with issue 11)" names work still on its way to main: it
  is not checked while missing, and once it exists the test fails so that the marker is
  removed (the pointer is then checked like the others).
- The table has exactly the level 1 requirements of ASVS 5.0.0, once each, in the
  standard's order, each with a known status; the summary's counts add up to the table.
"""

from __future__ import annotations

import ast
import re
from collections import Counter
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "security.md"
MARKER = "(lands with issue 11)"
STATUSES = ("Met", "Partly", "Not met", "N/A")
# Top-level names a repository path in the document starts with.
REPO_ROOTS = ("cli/", "diagrams/", "docs/", "engine/", "handlers/", "scripts/", "tests/", "web/")
REPO_FILES = ("README.md", "pyproject.toml", "Makefile")

# The level 1 requirements of OWASP ASVS 5.0.0 (ids only), in the standard's order, from
# 5.0/docs_en/OWASP_Application_Security_Verification_Standard_5.0.0_en.csv at the tag
# v5.0.0_release of github.com/OWASP/ASVS (column L == 1).
_LEVEL_1_IDS = """
V1.2.1 V1.2.2 V1.2.3 V1.2.4 V1.2.5 V1.3.1 V1.3.2 V1.5.1
V2.1.1 V2.2.1 V2.2.2 V2.3.1
V3.2.1 V3.2.2 V3.3.1 V3.4.1 V3.4.2 V3.5.1 V3.5.2 V3.5.3
V4.1.1 V4.4.1
V5.2.1 V5.2.2 V5.3.1 V5.3.2
V6.1.1 V6.2.1 V6.2.2 V6.2.3 V6.2.4 V6.2.5 V6.2.6 V6.2.7 V6.2.8 V6.3.1 V6.3.2 V6.4.1 V6.4.2
V7.2.1 V7.2.2 V7.2.3 V7.2.4 V7.4.1 V7.4.2
V8.1.1 V8.2.1 V8.2.2 V8.3.1
V9.1.1 V9.1.2 V9.1.3 V9.2.1
V10.4.1 V10.4.2 V10.4.3 V10.4.4 V10.4.5
V11.3.1 V11.3.2 V11.4.1
V12.1.1 V12.2.1 V12.2.2
V13.4.1
V14.2.1 V14.3.1
V15.1.1 V15.2.1 V15.3.1
"""
ASVS_5_0_0_LEVEL_1 = _LEVEL_1_IDS.split()

_BACKTICKED = re.compile(r"`([^`\n]+)`(\s*\(lands with issue 11\))?")
_ROW = re.compile(r"^\| (V\d+\.\d+\.\d+) \| [^|\n]+ \| ([^|\n]+?) \| [^\n]+\|$", re.M)
_SUMMARY = re.compile(r"^\| (?:\*\*)?([A-Za-z/ ]+?)(?:\*\*)? \| (?:\*\*)?(\d+)(?:\*\*)? \|$", re.M)


@cache
def text() -> str:
    return DOC.read_text(encoding="utf-8")


def pointers() -> list[tuple[str, bool]]:
    """(the path, with `::test` if any; whether it is marked as landing later), for every
    backticked name in the document that is a path of the repository (not an example
    such as `tests/…/file.py`)."""
    found = []
    for match in _BACKTICKED.finditer(text()):
        name = match.group(1)
        if (name.startswith(REPO_ROOTS) or name in REPO_FILES) and "…" not in name:
            found.append((name, match.group(2) is not None))
    return found


@cache
def defined(path: Path) -> frozenset[str]:
    """The functions `path` defines, as `name` and `Class::name`."""
    names = set()
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            names.add(node.name)
        elif isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef):
                    names.add(f"{node.name}::{item.name}")
    return frozenset(names)


def exists(pointer: str) -> bool:
    path, _, test = pointer.partition("::")
    target = ROOT / path
    if not test:
        return target.exists()
    return target.is_file() and path.endswith(".py") and test in defined(target)


def test_the_document_cites_tests_and_modules():
    cited = [p for p, _ in pointers()]
    assert sum("::test_" in p for p in cited) >= 50
    assert any(p.startswith(("engine/", "web/")) for p in cited)


def test_every_cited_test_and_path_exists():
    missing = sorted({p for p, marked in pointers() if not marked and not exists(p)})
    assert not missing, "docs/security.md names what does not exist:\n" + "\n".join(missing)


def test_a_cited_test_is_a_test_function():
    wrong = sorted({p for p, _ in pointers() if "::" in p and "::test_" not in p})
    assert not wrong, "cite test functions (file.py::test_name):\n" + "\n".join(wrong)


def test_no_marker_outlives_what_it_waits_for():
    landed = sorted({p for p, marked in pointers() if marked and exists(p)})
    assert not landed, (
        f"these have landed: remove {MARKER!r} after them in docs/security.md:\n"
        + "\n".join(landed)
    )


def test_the_table_has_every_level_1_requirement_once_in_order():
    ids = [match.group(1) for match in _ROW.finditer(text())]
    assert len(ASVS_5_0_0_LEVEL_1) == 70
    duplicated = sorted(id_ for id_, n in Counter(ids).items() if n > 1)
    assert not duplicated, f"listed more than once: {duplicated}"
    assert set(ids) == set(ASVS_5_0_0_LEVEL_1), (
        f"missing: {sorted(set(ASVS_5_0_0_LEVEL_1) - set(ids))}; "
        f"not level 1 of ASVS 5.0.0: {sorted(set(ids) - set(ASVS_5_0_0_LEVEL_1))}"
    )
    assert ids == ASVS_5_0_0_LEVEL_1


def test_every_row_has_a_known_status_and_the_summary_adds_up():
    statuses = [match.group(2).strip() for match in _ROW.finditer(text())]
    unknown = sorted(set(statuses) - set(STATUSES))
    assert not unknown, f"unknown status(es) {unknown}; use one of {STATUSES}"
    summary = {name: int(count) for name, count in _SUMMARY.findall(text())}
    counted = Counter(statuses)
    assert {status: summary.get(status) for status in STATUSES} == {
        status: counted[status] for status in STATUSES
    }
    assert summary.get("Total") == len(statuses)


def test_the_lists_of_partly_and_not_met_match_the_table():
    rows = {match.group(1): match.group(2).strip() for match in _ROW.finditer(text())}
    for status in ("Partly", "Not met"):
        listed = re.search(rf"^- {status}: (.*)$", text(), re.M)
        assert listed, f"the summary lists the {status} requirements as '- {status}: ...'"
        named = re.findall(r"V\d+\.\d+\.\d+", listed.group(1))
        assert named == [id_ for id_, s in rows.items() if s == status], status
