"""An event emitter that reads shared built-in handlers and stores only its own additions.

botocore copies every handler of a session into each session and again into each client
(~150 KiB with an S3 client). Here the built-ins (botocore's and boto3's) live once per
process in a frozen `SharedHandlers`; a `LayeredEmitter` holds what its session or client
registered itself and answers each event as one `HierarchicalEmitter` holding both would:
per matching name, most specific first, and within a name first/middle/last with the
built-ins before the additions. Removing a built-in or reusing a built-in's `unique_id`
turns that one emitter into a full private copy, as botocore's own copy would be.
"""

from __future__ import annotations

import threading
from collections import deque
from typing import Any

from botocore.hooks import HierarchicalEmitter, NodeList, _PrefixTrie

__all__ = ["LayeredEmitter", "SharedHandlers"]

_Node = dict[str, Any]


class SharedHandlers:
    """A frozen snapshot of an emitter's handlers, with a lookup cache shared by all readers."""

    def __init__(self, emitter: HierarchicalEmitter) -> None:
        self.trie: _PrefixTrie = emitter._handlers
        self.unique_ids: dict[str, dict[str, Any]] = emitter._unique_id_handlers
        self._lookup: dict[str, deque[Any]] = {}

    def prefix_search(self, event_name: str) -> deque[Any]:
        found = self._lookup.get(event_name)
        if found is None:
            found = self.trie.prefix_search(event_name)
            self._lookup[event_name] = found
        return found

    def holds(self, event_name: str, handler: Any) -> bool:
        """Whether `handler` is registered under exactly `event_name`."""
        node: _Node | None = self.trie._root
        for part in event_name.split("."):
            node = node["children"].get(part) if node is not None else None
        values: NodeList | None = node["values"] if node is not None else None
        return values is not None and any(handler in section for section in values)


class _LayeredTrie(_PrefixTrie):  # type: ignore[misc]
    """botocore's trie for the additions, searched together with the shared built-ins."""

    def __init__(self, base: SharedHandlers | None = None) -> None:
        super().__init__()
        self.base = base

    def prefix_search(self, key: str) -> deque[Any]:
        base = self.base
        if base is None:
            return super().prefix_search(key)  # type: ignore[no-any-return]
        if not self._root["children"]:
            return base.prefix_search(key)
        collected: deque[Any] = deque()
        parts = key.split(".")
        stack: list[tuple[_Node | None, _Node | None, int]] = [(base.trie._root, self._root, 0)]
        while stack:
            shared, own, index = stack.pop()
            ordered = _merged(shared, own)
            if ordered:
                collected.extendleft(reversed(ordered))
            if index == len(parts):
                continue
            shared_children = shared["children"] if shared is not None else {}
            own_children = own["children"] if own is not None else {}
            wildcard = (shared_children.get("*"), own_children.get("*"))
            direct = (shared_children.get(parts[index]), own_children.get(parts[index]))
            if wildcard != (None, None):
                stack.append((*wildcard, index + 1))
            if direct != (None, None):
                stack.append((*direct, index + 1))
        return collected

    def own_matches(self, key: str) -> bool:
        """Whether any addition (not a built-in) would be called for `key`."""
        return bool(super().prefix_search(key)) if self._root["children"] else False

    def flattened(self) -> _PrefixTrie:
        """One plain trie holding the built-ins, then the additions, as botocore would."""
        assert self.base is not None
        flat: _PrefixTrie = self.base.trie.__copy__()
        todo: list[tuple[_Node, tuple[str, ...]]] = [(self._root, ())]
        while todo:
            node, path = todo.pop()
            values: NodeList | None = node["values"]
            if values is not None:
                for section, handlers in enumerate(values):
                    for handler in handlers:
                        flat.append_item(".".join(path), handler, section=section)
            todo.extend((child, (*path, chunk)) for chunk, child in node["children"].items())
        return flat


def _merged(shared: _Node | None, own: _Node | None) -> list[Any]:
    base_values = shared["values"] if shared is not None else None
    own_values = own["values"] if own is not None else None
    if not own_values:
        return (
            [] if not base_values else [*base_values.first, *base_values.middle, *base_values.last]
        )
    if not base_values:
        return [*own_values.first, *own_values.middle, *own_values.last]
    return [
        *base_values.first,
        *own_values.first,
        *base_values.middle,
        *own_values.middle,
        *base_values.last,
        *own_values.last,
    ]


class LayeredEmitter(HierarchicalEmitter):  # type: ignore[misc]
    """A `HierarchicalEmitter` over `SharedHandlers`; copies copy only the additions."""

    def __init__(self, base: SharedHandlers | None = None) -> None:
        super().__init__()
        self._handlers = _LayeredTrie(base)
        self._private_lock = threading.Lock()

    @property
    def layered(self) -> bool:
        """False once this emitter had to become a full private copy."""
        return self._handlers.base is not None

    def own_handlers_for(self, event_name: str) -> bool:
        """Whether this emitter's additions (or a private copy) answer `event_name`."""
        trie = self._handlers
        return trie.own_matches(event_name) if trie.base is not None else True

    def _go_private(self) -> None:
        with self._private_lock:
            trie: _LayeredTrie = self._handlers
            base = trie.base
            if base is None:
                return
            flat = _LayeredTrie()
            flat.__dict__.update(trie.flattened().__dict__)
            ids = {key: dict(entry) for key, entry in base.unique_ids.items()}
            ids.update(self._unique_id_handlers)
            self.__dict__.update(_unique_id_handlers=ids, _handlers=flat, _lookup_cache={})

    def _in_base(self, event_name: str, handler: Any, unique_id: str | None) -> bool:
        base = self._handlers.base
        if base is None:
            return False
        if unique_id is not None:
            return unique_id in base.unique_ids and unique_id not in self._unique_id_handlers
        return base.holds(event_name, handler)

    def _register_section(
        self,
        event_name: str,
        handler: Any,
        unique_id: str | None,
        unique_id_uses_count: bool,
        section: int,
    ) -> None:
        if unique_id is not None and self._in_base(event_name, handler, unique_id):
            self._go_private()
        super()._register_section(event_name, handler, unique_id, unique_id_uses_count, section)

    def unregister(
        self,
        event_name: str,
        handler: Any = None,
        unique_id: str | None = None,
        unique_id_uses_count: bool = False,
    ) -> None:
        if self._in_base(event_name, handler, unique_id):
            self._go_private()
        super().unregister(event_name, handler, unique_id, unique_id_uses_count)

    def __copy__(self) -> LayeredEmitter:
        copied: LayeredEmitter = super().__copy__()
        copied._private_lock = threading.Lock()
        return copied
