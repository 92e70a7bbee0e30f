"""What each spawned process does in the cross-process AccountRoles tests (a child imports it)."""

from __future__ import annotations

import pickle
import time
from typing import Any


def caller_arn(session: Any, account: str) -> str:
    """The ARN STS sees for `account`'s session."""
    return str(session.client("sts").get_caller_identity()["Arn"])


def scan(data: bytes, accounts: list[str], ready: Any, results: Any) -> None:
    """Unpickle an AccountRoles, wait for every process at `ready` (a Barrier), map
    `caller_arn` over `accounts`; put (started, finished, {account: ARN or error}) in
    `results`."""
    roles = pickle.loads(data)
    ready.wait(60)
    started = time.time()
    found = {
        account: result if isinstance(result, str) else f"{type(result).__name__}: {result}"
        for account, result in roles.map(caller_arn, accounts, max_workers=6)
    }
    results.put((started, time.time(), found))
