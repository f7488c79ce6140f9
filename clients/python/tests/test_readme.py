"""The README's Python example runs as written, against a real server (its address swapped in),
and prints the trail and the hit it promises."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

README = Path(__file__).resolve().parents[3] / "README.md"


def test_the_readme_example_runs(server_url: str) -> None:
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## From Python") :]
    code = re.search(r"```python\n(.*?)```", section, re.S)
    assert code is not None, "a Python example in the README's Python section"
    source = code.group(1)
    assert len(source.strip().splitlines()) <= 12, "a short example"
    assert "http://127.0.0.1:7878" in source
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(source.replace("http://127.0.0.1:7878", server_url), "README.md", "exec"), {})
    lines = printed.getvalue().splitlines()
    assert lines[0] == "['works_at'] 0.9", lines
    assert lines[1] == "['Alice, an engineer']", lines
