"""scripts/bootstrap.sh: say what is being set up, and run pip only when something changed."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """A copy of bootstrap.sh and pyproject.toml whose .venv python fakes pip and logs it."""
    (tmp_path / "scripts").mkdir()
    shutil.copy(ROOT / "scripts" / "bootstrap.sh", tmp_path / "scripts" / "bootstrap.sh")
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    bin_dir = tmp_path / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    fake = bin_dir / "python"
    fake.write_text(
        "#!/usr/bin/env bash\n"
        'if [ "$1" = -m ] && [ "$2" = pip ]; then\n'
        '  echo "$*" >> "$PIP_LOG"\n'
        '  [ -z "${PIP_FAILS:-}" ] || exit 1\n'
        "  exit 0\n"
        "fi\n"
        f'exec "{sys.executable}" "$@"\n',
        encoding="utf-8",
    )
    fake.chmod(0o755)
    return tmp_path


def bootstrap(checkout: Path, extra: str, *, pip_fails: bool = False) -> tuple[int, str, list[str]]:
    """Source bootstrap.sh as scripts/demo does; return its status, output and pip calls."""
    log = checkout / "pip.log"
    log.unlink(missing_ok=True)
    env = dict(os.environ, PIP_LOG=str(log))
    if pip_fails:
        env["PIP_FAILS"] = "1"
    done = subprocess.run(
        ["bash", "-c", f'source scripts/bootstrap.sh {extra} && echo "ready"'],
        cwd=checkout,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    calls = log.read_text(encoding="utf-8").splitlines() if log.exists() else []
    return done.returncode, done.stdout + done.stderr, calls


def test_the_first_run_says_what_it_installs_before_running_pip(checkout):
    status, output, calls = bootstrap(checkout, "demo")

    assert status == 0, output
    assert "installing refreshsts[demo]" in output
    assert output.index("installing") < output.index("ready")
    assert calls[-1].endswith(f"-e {checkout}[demo]")


def test_a_second_run_with_the_same_pyproject_skips_pip(checkout):
    bootstrap(checkout, "demo")

    status, output, calls = bootstrap(checkout, "demo")

    assert status == 0, output
    assert calls == []
    assert "installing" not in output
    assert output.strip() == "ready"


def test_a_changed_pyproject_or_another_extra_installs_again(checkout):
    bootstrap(checkout, "demo")
    pyproject = checkout / "pyproject.toml"
    pyproject.write_text(pyproject.read_text() + "\n# a new dependency\n", encoding="utf-8")

    _, _, after_edit = bootstrap(checkout, "demo")
    _, _, other_extra = bootstrap(checkout, "dev")
    _, _, again = bootstrap(checkout, "demo")

    assert after_edit[-1].endswith("[demo]")
    assert other_extra[-1].endswith("[dev]")
    assert again == []


def test_a_failed_install_is_retried_on_the_next_run(checkout):
    status, output, _ = bootstrap(checkout, "demo", pip_fails=True)
    assert status != 0, output

    status, output, calls = bootstrap(checkout, "demo")

    assert status == 0, output
    assert calls[-1].endswith("[demo]")
