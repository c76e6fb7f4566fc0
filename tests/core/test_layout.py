"""The layout the code keeps (README "Where things live"): routes and console pages write nothing
themselves (every write goes through a capability's service), the console calls no route, and a
project import inside a function says why it is there. `lint-imports` (in .ci/run) checks the
layering between packages."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROJECT = ("renewals", "api", "workflows", "activities", "models", "worker")


def python_files(*folders: str) -> list[Path]:
    return sorted(path for folder in folders for path in (ROOT / folder).rglob("*.py"))


def test_no_route_or_console_page_adds_deletes_or_commits_rows_itself():
    writes = re.compile(r"\bsession\.(add|add_all|delete)\(|\.commit\(")
    found = [f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
             for path in python_files("api") for number, line in enumerate(path.read_text().splitlines(), 1)
             if writes.search(line)]
    assert not found, "database writes under api/ (move them into a service):\n" + "\n".join(found)


def test_the_console_imports_no_route_module():
    found = []
    for path in python_files("api/console"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([alias.name for alias in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            found += [f"{path.relative_to(ROOT)}:{node.lineno}" for name in names if name.startswith("api.routes")]
    assert not found, found


def _imports_in_functions(tree: ast.AST) -> list[list[ast.stmt]]:
    """Each run of consecutive project imports inside a function body."""
    runs: list[list[ast.stmt]] = []
    for function in ast.walk(tree):
        if not isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        run: list[ast.stmt] = []
        for statement in function.body:
            module = (statement.names[0].name if isinstance(statement, ast.Import)
                      else statement.module if isinstance(statement, ast.ImportFrom) else None)
            if module is not None:
                if module.split(".")[0] in PROJECT:
                    run.append(statement)
                continue  # third-party imports may sit in the same block
            if run:
                runs.append(run)
            run = []
        if run:
            runs.append(run)
    return runs


def test_a_project_import_inside_a_function_says_why():
    unexplained = []
    for path in python_files("renewals", "api", "workflows", "activities", "models") + [ROOT / "worker.py"]:
        lines = path.read_text().splitlines()
        for run in _imports_in_functions(ast.parse("\n".join(lines))):
            first = run[0].lineno
            said = [lines[statement.lineno - 1] for statement in run]
            above = first - 1  # the comment may head the whole block of imports, blank lines included
            while above >= 1 and re.match(r"\s*(from \S+ import|import |#|$)", lines[above - 1]):
                said.append(lines[above - 1])
                above -= 1
            if not any("#" in line for line in said):
                unexplained.append(f"{path.relative_to(ROOT)}:{first}")
    assert not unexplained, "project imports inside functions without a comment saying why:\n" + "\n".join(unexplained)
