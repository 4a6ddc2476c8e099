"""The instructors' page (book/teaching.md) must keep up with the book:
every chapter of the table of contents has its place in the course plan,
and the paths through the book are counted and listed consistently.

The page is written so that this can be checked:

- each chapter is linked as {doc}`NN_name`;
- the course plan has one heading ``### Session K: {doc}`NN_name``` per
  chapter, in the order of ``_toc.yml``;
- the section ``## Paths through the book`` announces **N paths** in bold
  and has N headings ``### The ... path``, each followed by a line
  ``**Chapters (M):**`` that links exactly M chapters.
"""

import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
TOC = ROOT / "_toc.yml"
TEACHING = ROOT / "book" / "teaching.md"

NUMBERS = {
    word: n
    for n, word in enumerate(
        "zero one two three four five six seven eight nine ten eleven "
        "twelve".split()
    )
}
# {doc}`name` or {doc}`title <name>`
DOC = re.compile(r"\{doc\}`(?:[^`<]*<)?([^`<>]+?)>?`")
# **Chapters (M):** and the links that follow, up to a blank line
CHAPTERS_LINE = re.compile(
    r"\*\*Chapters \((\d+)\):\*\*(.*?)(?:\n\s*\n|\Z)", re.DOTALL
)


def _chapters() -> list[str]:
    """The doc names ("01_pipeline", ...) of the "Chapters" part."""
    toc = yaml.safe_load(TOC.read_text())
    parts = [p for p in toc["parts"] if p.get("caption") == "Chapters"]
    assert len(parts) == 1, "_toc.yml must have exactly one 'Chapters' part"
    return [Path(c["file"]).name for c in parts[0]["chapters"]]


def _text() -> str:
    return TEACHING.read_text()


def _section(text: str, heading: str) -> str:
    """The body of the section whose ``## `` heading starts with
    ``heading``, up to the next ``## ``."""
    match = re.search(
        rf"^## {re.escape(heading)}[^\n]*$(.*?)(?=^## |\Z)",
        text,
        re.MULTILINE | re.DOTALL,
    )
    assert match, f"teaching.md has no section '## {heading}'"
    return match.group(1)


def _count(word: str) -> int:
    word = word.lower()
    if word.isdigit():
        return int(word)
    assert word in NUMBERS, f"cannot read the number {word!r}"
    return NUMBERS[word]


def _paths() -> dict[str, str]:
    """Each path heading of the paths section, with its body."""
    section = _section(_text(), "Paths through the book")
    pieces = re.split(r"^### (.+)$", section, flags=re.MULTILINE)
    return {
        heading.strip(): body
        for heading, body in zip(pieces[1::2], pieces[2::2])
        if heading.strip().endswith("path")
    }


def test_the_table_of_contents_lists_chapters():
    chapters = _chapters()
    assert chapters, "no chapters under the 'Chapters' part of _toc.yml"
    assert len(set(chapters)) == len(chapters), "a chapter is listed twice"


@pytest.mark.parametrize("chapter", _chapters())
def test_every_chapter_is_in_the_teaching_notes(chapter):
    linked = set(DOC.findall(_text()))
    assert chapter in linked, (
        f"book/teaching.md never links chapter {chapter} "
        f"(write {{doc}}`{chapter}`)"
    )


def test_course_plan_has_one_session_per_chapter_in_order():
    plan = _section(_text(), "A course plan")
    sessions = re.findall(
        r"^### Session (\d+): \{doc\}`([^`]+)`\s*$", plan, re.MULTILINE
    )
    chapters = _chapters()
    assert [name for _, name in sessions] == chapters, (
        "the course plan's sessions must follow _toc.yml's chapters, one "
        f"each: {[name for _, name in sessions]} != {chapters}"
    )
    assert [int(k) for k, _ in sessions] == list(
        range(1, len(chapters) + 1)
    ), "sessions must be numbered 1, 2, 3, ..."


def test_course_plan_heading_counts_the_sessions():
    """The plan's heading says how many sessions it has."""
    match = re.search(
        r"^## A course plan: (\w+) sessions", _text(), re.MULTILINE
    )
    assert match, "no '## A course plan: N sessions ...' heading"
    assert _count(match.group(1)) == len(_chapters())


def test_announced_number_of_paths_matches_the_paths_listed():
    section = _section(_text(), "Paths through the book")
    announced = re.findall(r"\*\*(\w+) paths\*\*", section)
    assert len(announced) == 1, (
        "the paths section must announce its number once, as **N paths**"
    )
    paths = _paths()
    assert paths, "no '### The ... path' headings in the paths section"
    assert _count(announced[0]) == len(paths), (
        f"the page announces {announced[0]} paths but lists "
        f"{len(paths)}: {list(paths)}"
    )


def test_each_path_lists_exactly_the_chapters_it_announces():
    chapters = set(_chapters())
    for heading, body in _paths().items():
        match = CHAPTERS_LINE.search(body)
        assert match, f"{heading}: no '**Chapters (N):**' line"
        listed = DOC.findall(match.group(2))
        assert len(listed) == int(match.group(1)), (
            f"{heading}: announces {match.group(1)} chapters, lists "
            f"{len(listed)}: {listed}"
        )
        assert len(set(listed)) == len(listed), f"{heading}: a repeat"
        unknown = set(listed) - chapters
        assert not unknown, (
            f"{heading}: not chapters of _toc.yml: {unknown}"
        )


def test_every_chapter_is_on_some_path():
    on_a_path = set()
    for body in _paths().values():
        match = CHAPTERS_LINE.search(body)
        if match:
            on_a_path |= set(DOC.findall(match.group(2)))
    missing = [c for c in _chapters() if c not in on_a_path]
    assert not missing, f"chapters on no path: {missing}"
