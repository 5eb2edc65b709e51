"""The Router's deployments, read and changed the way each LiteLLM version wants.

- 1.108.x: `Router.model_list` is a plain list of plain dicts the Router reads per call; a field
  written into an entry is seen at once and costs nothing. Deployments are added and removed with
  `add_deployment` / `delete_deployment`.
- 1.110.x: the Router is a front over a new core. `router.registry()` is the public view
  (`all()`, the live list; `deployment_dict(id)`; `version`), `router.apply(ChangeSet(...))` the
  public way to add, replace and remove. The live list's entries are dicts whose every write
  hands the whole list to the core again (55 ms a write at 1,000 deployments), so field edits go
  in one whole-list write: deep copies edited, then `all()[:] = copies` (65 ms for 1,000).
  `model_list`, `delete_deployment` and `generate_model_id` are deprecated there.

Which path is taken depends on what the Router has (`registry`), not on a version number, so a
Router of either shape works, and so does the unit tests' stand-in (a plain `model_list`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

# Fields written as a batch per deployment id: {id: {field: value or DELETE}}
DELETE = object()
ModelInfoChanges = Mapping[str, Mapping[str, Any]]


def _registry(router: Any) -> Any:
    registry = getattr(type(router), "registry", None)
    return router.registry() if callable(registry) else None


def deployments(router: Any) -> Sequence[Mapping[str, Any]]:
    """The live deployment list (read it, do not write into it: use `update_model_info`)."""
    if router is None:
        return []
    registry = _registry(router)
    return registry.all() if registry is not None else router.model_list


def version(router: Any) -> int | None:
    """A number that moves when deployments are added, replaced or removed (1.110's registry
    version), or None when the Router keeps none (1.108)."""
    registry = _registry(router) if router is not None else None
    return int(registry.version) if registry is not None else None


def deployment_entry(router: Any, deployment_id: str) -> Mapping[str, Any] | None:
    """The live entry of one deployment, or None. Its identity is kept while it is unchanged."""
    registry = _registry(router)
    if registry is not None:
        entry = registry.deployment_dict(deployment_id)
        return entry if isinstance(entry, Mapping) else None
    index_map = getattr(router, "model_id_to_deployment_index_map", None)
    if isinstance(index_map, Mapping):
        index = index_map.get(deployment_id)
        return router.model_list[index] if index is not None else None
    for entry in router.model_list:
        if str((entry.get("model_info") or {}).get("id")) == deployment_id:
            return entry
    return None


def update_model_info(router: Any, changes: ModelInfoChanges) -> int:
    """Set (or, with DELETE, remove) `model_info` fields of many deployments in one write.
    Returns how many deployments changed."""
    if router is None or not changes:
        return 0
    registry = _registry(router)
    live = registry.all() if registry is not None else router.model_list
    if registry is None:
        changed = 0
        for entry in live:
            info = entry.get("model_info") if isinstance(entry, Mapping) else None
            edited = _edited(info, changes)
            if edited is not None and isinstance(info, dict):
                info.clear()
                info.update(edited)
                changed += 1
        return changed
    # The entries are not copied: an unchanged one keeps its identity (and what is cached by it);
    # a changed one is a new plain dict sharing the other fields. One whole-list change for the core.
    entries = list(live)
    changed = 0
    for position, entry in enumerate(entries):
        edited = _edited(entry.get("model_info") if isinstance(entry, Mapping) else None, changes)
        if edited is not None:
            entries[position] = {**entry, "model_info": edited}
            changed += 1
    if changed:
        live[:] = entries
    return changed


def _edited(info: Any, changes: ModelInfoChanges) -> dict[str, Any] | None:
    """The deployment's `model_info` with its changes, or None when nothing would change."""
    if not isinstance(info, Mapping):
        return None
    fields = changes.get(str(info.get("id")))
    if not fields:
        return None
    edited = dict(info)
    for name, value in fields.items():
        if value is DELETE:
            edited.pop(name, None)
        else:
            edited[name] = value
    same = edited.keys() == info.keys() and all(
        edited[k] == info[k] and type(edited[k]) is type(info[k]) for k in edited
    )
    return None if same else edited


def change_deployments(router: Any, upsert: Sequence[Mapping[str, Any]], delete: Sequence[str]) -> None:
    """Add or replace (`upsert`, matched by `model_info.id`) and remove (`delete`, ids) deployments,
    in one change where the Router takes one. A deployment in both is replaced."""
    if router is None or not (upsert or delete):
        return
    from litellm.types.router import Deployment

    replaced = {str((d.get("model_info") or {}).get("id")) for d in upsert}
    removed = [i for i in delete if i not in replaced]
    apply = getattr(type(router), "apply", None)
    change_set = _change_set_class()
    if callable(apply) and change_set is not None:
        router.apply(change_set(upsert=[Deployment(**d) for d in upsert], delete=removed))
        return
    present = {str((d.get("model_info") or {}).get("id")) for d in router.model_list}
    for deployment_id in [*removed, *(i for i in replaced if i in present)]:
        router.delete_deployment(id=deployment_id)
    for deployment in upsert:
        router.add_deployment(Deployment(**deployment))


def _change_set_class() -> Callable[..., Any] | None:
    try:
        from litellm.router_api import ChangeSet  # 1.110+
    except ImportError:
        return None
    return ChangeSet


def deployment_id(model_name: str, params: Mapping[str, Any]) -> str:
    """The id LiteLLM gives a deployment whose config sets none (the same hash in both versions)."""
    try:
        from litellm.router_api import deployment_id as hashed  # 1.110+
    except ImportError:
        from litellm import Router

        return str(Router.generate_model_id(model_name, dict(params)))
    return str(hashed(model_name, dict(params)))


async def pick_deployment(router: Any, model: str, messages: list[dict[str, Any]]) -> Mapping[str, Any]:
    """The deployment LiteLLM's own routing strategy picks for `model` (benchmarks compare ours
    with it): `router.select` on 1.110+, `async_get_available_deployment` before."""
    if callable(getattr(type(router), "select", None)):
        picked = await router.select(model, {}, messages=messages)
    else:
        picked = await router.async_get_available_deployment(
            model=model, messages=messages, request_kwargs={}
        )
    return picked if isinstance(picked, Mapping) else picked.model_dump()
