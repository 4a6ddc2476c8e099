"""The README's "Use it on your data" example runs as printed."""

import contextlib
import io
import re
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"


def test_readme_example_runs_and_prints_every_arm():
    text = README.read_text()
    section = text.split("## Use it on your data", 1)[1].split("\n## ")[0]
    (code,) = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    assert len(code.strip().splitlines()) <= 16, "keep the example short"
    printed = io.StringIO()
    namespace: dict = {}
    with contextlib.redirect_stdout(printed):
        exec(compile(code, "README.md", "exec"), namespace)
    result = namespace["result"]
    assert set(result.test_accuracy) == {
        "scratch",
        "pseudo",
        "soft",
        "finetuned",
    }
    assert all(len(v) == 5 for v in result.test_accuracy.values())
    # the teacher learned the toy task, so the comparison means something
    assert result.teacher_test_accuracy > 0.8
    for arm in ("scratch", "soft", "finetuned"):
        assert arm in printed.getvalue()
