"""The committed notebooks are what nbval compares against, so check that
they are complete: executed top to bottom, without errors, with their
outputs.

A notebook stripped of its outputs would still "pass" nbval (there would be
nothing to compare), which would silently turn the output checks off.
"""

import ast
from pathlib import Path

import nbformat
import pytest

BOOK = Path(__file__).resolve().parent.parent / "book"
NOTEBOOKS = sorted(
    p for p in BOOK.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts
)
TOC = (BOOK.parent / "_toc.yml").read_text()


def _code_cells(path):
    return [
        c
        for c in nbformat.read(path, as_version=4).cells
        if c.cell_type == "code"
    ]


def _source_without_magics(cell):
    return "\n".join(
        line
        for line in cell.source.splitlines()
        if not line.lstrip().startswith(("%", "!"))
    )


def _expects_output(cell) -> bool:
    """A cell that prints, shows a figure, or ends in a bare
    expression must have output."""
    source = _source_without_magics(cell)
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return False
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            name = (
                node.func.attr
                if isinstance(node.func, ast.Attribute)
                else getattr(node.func, "id", "")
            )
            if name in ("print", "display", "show"):
                return True
    if (
        tree.body
        and isinstance(tree.body[-1], ast.Expr)
        and not isinstance(tree.body[-1].value, ast.Call)
    ):
        return True
    return False


def test_there_are_notebooks():
    assert NOTEBOOKS, "no notebooks found under book/"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_in_the_table_of_contents(path):
    assert f"book/{path.stem}" in TOC, (
        f"{path.name} is not listed in _toc.yml"
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_executed_in_order_top_to_bottom(path):
    counts = [
        c.execution_count for c in _code_cells(path) if c.source.strip()
    ]
    assert None not in counts, (
        f"{path.name}: some code cells were never executed"
    )
    assert counts == list(range(1, len(counts) + 1)), (
        f"{path.name}: execution counts {counts} are not 1, 2, 3, ... "
        "(re-run it top to bottom)"
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_no_errors_or_warnings_in_outputs(path):
    for i, cell in enumerate(_code_cells(path)):
        for out in cell.outputs:
            assert out.output_type != "error", (
                f"{path.name}, code cell {i}: error output"
            )
            if out.output_type == "stream" and out.name == "stderr":
                assert "Warning" not in out.text, (
                    f"{path.name}, code cell {i}: a warning\n{out.text}"
                )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_cells_that_should_show_something_do(path):
    missing = [
        i
        for i, c in enumerate(_code_cells(path))
        if _expects_output(c) and not c.outputs
    ]
    assert not missing, (
        f"{path.name}: code cells {missing} should have outputs but are "
        "empty"
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_chapter_has_goals_summary_and_exercises(path):
    text = "\n".join(
        c.source
        for c in nbformat.read(path, as_version=4).cells
        if c.cell_type == "markdown"
    ).lower()
    for heading in ("learning goals", "summary", "exercises"):
        assert heading in text, f"{path.name} has no '{heading}' section"
