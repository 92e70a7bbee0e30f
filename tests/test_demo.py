"""The README's demo command: the seed walkthrough on an embedded moto server."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_the_seed_walkthrough_demo_runs_end_to_end(tmp_path):
    """Run from a copy outside the checkout, so that it cannot lean on tests/."""
    for example in (ROOT / "examples").glob("*.py"):
        shutil.copy(example, tmp_path / example.name)
    done = subprocess.run(
        [sys.executable, str(tmp_path / "seed_walkthrough.py")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert "assumed-role/sts-s3-read-only/mytestsession" in out
    assert "S3 bucket    mytestbucket\n" in out
    assert "One RefreshableSession instead of `aws sts assume-role`" in out
    assert "(AccessDenied) when calling the PutObject operation" in out
    assert "0 requests signed with an expired key" in out
    assert "The walkthrough works end to end" in out
