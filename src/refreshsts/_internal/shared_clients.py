"""Client parts botocore builds again for every client, shared once per process instead.

A new botocore client gets its own class (a function and a docstring object per operation:
~150 KiB for S3) and its own parsed endpoint ruleset (~60 KiB for S3), though both depend
only on the service model, which refreshsts's shared loader makes identical across sessions.
After botocore has built a client the normal way, `share_parts` points it at the first such
class and ruleset built in this process, so the per-client copies are freed at once, with
the operation models that building the class parsed (~45 KiB for S3).

A class is shared only when no handler of the session's own (one a user registered on
`session.events`) takes part in `creating-client-class.<service>`: such a handler may shape
the class, and its clients keep the class botocore built for them.
"""

from __future__ import annotations

import threading
from typing import Any

from . import forks
from .layered_events import LayeredEmitter

__all__ = ["share_parts"]

_lock = threading.Lock()


def _free_lock_in_child() -> None:
    global _lock
    _lock = threading.Lock()


forks.on_fork_in_child(_free_lock_in_child)
_classes: dict[tuple[str, str, str], type] = {}
_providers: dict[tuple[str, str], Any] = {}


def share_parts(emitter: Any, client: Any) -> None:
    """Give `client` the process-wide class and endpoint provider of its service."""
    model = client.meta.service_model
    key = (model.service_name, model.api_version)
    _share_class(emitter, client, model)
    resolver: Any = getattr(client, "_ruleset_resolver", None)
    provider = getattr(resolver, "_provider", None)
    if resolver is None or provider is None:
        return
    with _lock:
        shared = _providers.setdefault(key, provider)
    if shared is not provider:
        resolver._provider = shared
        resolver._param_definitions = shared.ruleset.parameters


def _share_class(emitter: Any, client: Any, model: Any) -> None:
    if not isinstance(emitter, LayeredEmitter):
        return
    if emitter.own_handlers_for(f"creating-client-class.{model.service_id.hyphenize()}"):
        return
    built = type(client)
    key = (model.service_name, model.api_version, built.__name__)
    with _lock:
        shared = _classes.setdefault(key, built)
    if shared is not built and shared.__dict__.keys() == built.__dict__.keys():
        client.__class__ = shared
        # Building the class parsed every operation (for docstrings) into this client's own
        # service model; the shared class needs none of them, and the client parses again
        # only those it calls.
        cache = getattr(model, "_instance_cache", None)
        if isinstance(cache, dict):
            cache.clear()
