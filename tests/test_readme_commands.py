"""`.ci/run` must run exactly the set-up and test commands the README
gives a new user, so that what CI proves is what a reader's first commands
do."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _quick_start_commands() -> list[str]:
    readme = (ROOT / "README.md").read_text()
    quick_start = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```bash\n(.*?)```", quick_start, flags=re.S)
    return [line.strip() for b in blocks for line in b.splitlines() if line]


def test_readme_gives_setup_and_test_commands():
    commands = _quick_start_commands()
    assert len(commands) == 2, commands
    setup, tests = commands
    assert "pip install -r requirements.txt" in setup
    assert "--warningiserror" in setup
    assert "ruff format --check" in tests and "ruff check" in tests
    assert "pytest" in tests


def test_ci_runs_exactly_the_readme_commands():
    ci_lines = [
        line.strip()
        for line in (ROOT / ".ci" / "run").read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    for command in _quick_start_commands():
        assert command in ci_lines, f".ci/run does not run: {command}"
