"""Viewers linked to a main viewer (the MPR workspace's viewports).

Their measurement layers count as the main viewer's, so one measurement
table lists every ruler with the viewport it was drawn in.
"""

from __future__ import annotations

import weakref
from typing import Any

from ._napari_private import unwrap

__all__ = ["link_viewer", "unlink_viewer", "on_new_tool_layer", "run_hooks", "main_of", "linked_models",
           "set_workspace", "workspace_of"]

# Viewers linked to a main viewer (the MPR workspace's viewports): their tool layers are the main
# viewer's too, so one measurement table lists every ruler with the viewport it was drawn in.
# Keyed by id() (napari viewers are not hashable) with a weak reference to check the key is not
# a reused id; callbacks are held weakly, so a table widget is never kept alive by this registry.
_LINKED: dict[int, tuple[Any, list[Any]]] = {}  # id(main) -> (weakref(main), linked viewer models)
_HOOKS: dict[int, tuple[Any, list[Any]]] = {}  # id(main) -> (weakref(main), weak callbacks)
_WORKSPACES: dict[int, tuple[Any, list[Any]]] = {}  # id(main) -> (weakref(main), [the open MPR workspace])


def _entry(table: dict, viewer: Any, create: bool = False) -> list[Any] | None:
    main = unwrap(viewer)
    ref_list = table.get(id(main))
    if ref_list is not None and ref_list[0]() is not main:  # an id reused by a new viewer
        del table[id(main)]
        ref_list = None
    if ref_list is None and create:
        ref_list = table[id(main)] = (weakref.ref(main), [])
    return None if ref_list is None else ref_list[1]


def link_viewer(main: Any, model: Any) -> None:
    """List `model`'s measurement layers among `main`'s (see :func:`._measure_layers.tool_layers`)."""
    _entry(_LINKED, main, create=True).append(model)  # type: ignore[union-attr]


def unlink_viewer(main: Any, model: Any) -> None:
    """Undo :func:`link_viewer` and tell `main`'s listeners (e.g. the table) that layers went."""
    lst = _entry(_LINKED, main)
    if lst is not None:
        lst[:] = [m for m in lst if m is not model]  # identity: models compare by value
    run_hooks(main)


def on_new_tool_layer(main: Any, callback: Any) -> None:
    """Call ``callback()`` when a tool layer appears in, or a viewer is unlinked from, `main` (held weakly)."""
    ref = weakref.WeakMethod(callback) if hasattr(callback, "__self__") else (lambda cb=callback: cb)
    _entry(_HOOKS, main, create=True).append(ref)  # type: ignore[union-attr]


def run_hooks(main: Any) -> None:
    """Call the callbacks registered with :func:`on_new_tool_layer` for `main`; forget dead ones."""
    lst = _entry(_HOOKS, main) or []
    for ref in list(lst):
        cb = ref()
        try:
            if cb is None:
                raise RuntimeError("collected")
            cb()
        except RuntimeError:  # collected, or a deleted Qt widget: forget it
            lst.remove(ref)


def main_of(model: Any) -> Any:
    """The main viewer `model` is linked to, else None."""
    for ref, lst in list(_LINKED.values()):
        if any(m is model for m in lst):
            return ref()
    return None


def linked_models(main: Any) -> list[Any]:
    """The viewer models linked to `main` (empty if none)."""
    return list(_entry(_LINKED, main) or ())


def set_workspace(main: Any, workspace: Any) -> None:
    """Record `workspace` (the MPR workspace, or None when it closes) as open on `main`: one per viewer."""
    lst = _entry(_WORKSPACES, main, create=True)
    assert lst is not None
    lst[:] = [] if workspace is None else [workspace]


def workspace_of(main: Any) -> Any:
    """The MPR workspace open on `main` (sessions save it), else None."""
    lst = _entry(_WORKSPACES, main)
    return lst[0] if lst else None
