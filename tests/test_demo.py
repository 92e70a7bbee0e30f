"""The README's demo command: the seed walkthrough on an embedded moto server."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_the_seed_walkthrough_demo_runs_end_to_end():
    done = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "seed_walkthrough.py")],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert "assumed-role/sts-s3-read-only/mytestsession" in out
    assert "mytest-bucket" in out
    assert "(AccessDenied) when calling the PutObject operation" in out
    assert "0 requests signed with an expired key" in out
    assert "The walkthrough works end to end" in out
