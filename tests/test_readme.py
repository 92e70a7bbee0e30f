"""The README's commands run as written from a fresh shell, and there are two set-up commands."""

from __future__ import annotations

import os
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _section(title: str) -> str:
    start = README.index(f"## {title}\n")
    end = README.find("\n## ", start + 1)
    return README[start : end if end != -1 else None]


def test_the_readme_has_exactly_two_set_up_commands():
    blocks = re.findall(r"```sh\n(.*?)```", _section("The two commands"), re.S)
    commands = [line.split("#")[0].strip() for block in blocks for line in block.splitlines()]

    assert [command for command in commands if command] == ["scripts/demo", "scripts/test"]


def test_every_script_the_readme_names_exists_and_is_executable():
    named = set(re.findall(r"(?<![\w/.])scripts/[\w.-]+", README))

    assert {"scripts/demo", "scripts/test", "scripts/docs"} <= named
    for script in sorted(named):
        assert os.access(ROOT / script, os.X_OK), f"{script} is not an executable file"


def test_the_readme_runs_tools_from_the_venv_not_from_an_activated_shell():
    fenced = "".join(re.findall(r"```sh\n(.*?)```", README, re.S))
    inline = re.findall(r"`([^`\n]+)`", README)

    for bare in ("mkdocs", "nox", "pytest"):
        assert not re.search(rf"(?m)^\s*{bare}\b", fenced), f"bare {bare} in a README block"
        assert not [code for code in inline if code.startswith(f"{bare} ")], bare
