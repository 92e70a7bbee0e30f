"""botocore sessions that share one data loader, so new sessions do not re-read JSON models.

They also share botocore's and boto3's built-in event handlers (a `LayeredEmitter` holds only
what a session or client adds) and, through `share_parts`, each service's client class and
endpoint ruleset: what botocore would otherwise copy into every session and client.
"""

from __future__ import annotations

import os
import threading
from typing import Any

import boto3
import botocore.session
from botocore.config import Config
from botocore.credentials import CredentialProvider, CredentialResolver, Credentials
from botocore.loaders import Loader

from . import forks
from .layered_events import LayeredEmitter, SharedHandlers
from .shared_clients import share_parts
from .sts_model import SupplementingLoader

__all__ = ["BOTO3_DATA", "config_key", "new_botocore_session", "shared_loader", "sts_client_config"]

BOTO3_DATA = os.path.join(os.path.dirname(boto3.__file__), "data")

_loader: Loader | None = None
_handlers: SharedHandlers | None = None
_loader_lock = threading.Lock()


def _after_fork_in_child() -> None:
    global _loader_lock
    _loader_lock = threading.Lock()


forks.on_fork_in_child(_after_fork_in_child)


def shared_loader() -> Loader:
    """One botocore Loader per process; its instance cache keeps parsed service models.

    Its STS model also has the operations newer than the installed botocore (`sts_model`).
    """
    global _loader
    with _loader_lock:
        if _loader is None:
            extra = os.environ.get("AWS_DATA_PATH")
            paths = (
                [os.path.expanduser(os.path.expandvars(p)) for p in extra.split(os.pathsep)]
                if extra
                else []
            )
            loader = SupplementingLoader(extra_search_paths=paths)
            loader.search_paths.append(BOTO3_DATA)
            _loader = loader
        return _loader


def shared_handlers() -> SharedHandlers:
    """botocore's and boto3's built-in event handlers, registered once per process.

    Registering them costs ~3.5 ms per botocore session (argspec checks on ~120 handlers)
    and copying them ~150 KiB per session and client; every session reads these instead.
    Nothing is ever registered on them after this.
    """
    global _handlers
    with _loader_lock:
        if _handlers is None:
            # The template reads no AWS_PROFILE: one naming a profile the config lacks must
            # not fail sessions that never use it (a credential_process, Roles Anywhere).
            template = botocore.session.Session(session_vars={"profile": (None, None, None, None)})
            boto3.Session(botocore_session=template)  # adds boto3's default handlers
            _handlers = SharedHandlers(template._original_handler)
        return _handlers


class _SharingSession(botocore.session.Session):  # type: ignore[misc]
    """A botocore session whose clients share their class and endpoint ruleset."""

    def create_client(self, *args: Any, **kwargs: Any) -> Any:
        client = super().create_client(*args, **kwargs)
        share_parts(self._original_handler, client)
        return client


class _FixedProvider(CredentialProvider):  # type: ignore[misc]
    METHOD = "refreshsts"
    CANONICAL_NAME = "refreshsts"

    def __init__(self, credentials: Credentials) -> None:
        super().__init__()
        self._credentials = credentials

    def load(self) -> Credentials:
        return self._credentials


def new_botocore_session(
    *, profile: str | None = None, credentials: Credentials | None = None
) -> botocore.session.Session:
    """A botocore session on the shared loader, optionally bound to fixed credentials."""
    session = _SharingSession(
        profile=profile,
        event_hooks=LayeredEmitter(shared_handlers()),
        include_builtin_handlers=False,
    )
    session.register_component("data_loader", shared_loader())
    if credentials is not None:
        session.register_component(
            "credential_provider", CredentialResolver([_FixedProvider(credentials)])
        )
    return session


_STS_DEFAULTS = Config(
    retries={"mode": "standard", "total_max_attempts": 3},
    connect_timeout=5,
    read_timeout=10,
)
_FIRST_FETCH = Config(connect_timeout=3, read_timeout=5)
"""When nothing valid is in hand a caller waits: shorter timeouts, so it fails fast."""


def sts_client_config(user: Config | None, *, waiting: bool = False) -> Config:
    """botocore's standard retries (3 attempts in all) and short timeouts, under `user`.

    `waiting`: for a fetch a caller waits on with nothing valid in hand, shorter still.
    """
    base = _STS_DEFAULTS.merge(_FIRST_FETCH) if waiting else _STS_DEFAULTS
    if user is None:
        return base
    merged = base.merge(user)
    retries = getattr(user, "retries", None)
    if retries:
        defaults: dict[str, Any] = {"mode": "standard"}
        if "total_max_attempts" not in retries and "max_attempts" not in retries:
            defaults["total_max_attempts"] = 3
        merged = merged.merge(Config(retries={**defaults, **retries}))
    return merged


def config_key(config: Config | None) -> Any:
    """A hashable stand-in for a Config's user-set options, for client caching."""
    if config is None:
        return None
    options = getattr(config, "_user_provided_options", None)
    if options is None:
        return ("id", id(config))
    return repr(sorted(options.items(), key=lambda item: item[0]))
