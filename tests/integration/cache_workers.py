"""What each spawned process does in the cross-process cache tests (importable by a child)."""

from __future__ import annotations

import pickle
import time
from typing import Any


def first_request(data: bytes, bucket: str, start_at: float) -> str:
    """Unpickle a session, wait for the common start, make one S3 request, return the key."""
    session = pickle.loads(data)
    time.sleep(max(0.0, start_at - time.time()))
    session.client("s3").list_objects_v2(Bucket=bucket)
    return str(session.get_credentials().get_frozen_credentials().access_key)


def keep_working(data: bytes, bucket: str, seconds: float) -> dict[str, Any]:
    """Make S3 requests for `seconds`; report how many worked and every error seen."""
    session = pickle.loads(data)
    s3 = session.client("s3")
    ok, errors = 0, []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            s3.list_objects_v2(Bucket=bucket)
            ok += 1
        except Exception as exc:
            errors.append(f"{type(exc).__name__}: {exc}")
        time.sleep(0.05)
    return {"ok": ok, "errors": errors}
