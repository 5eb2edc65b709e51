"""`/routing/keys`: client keys for admins. A new key is shown once, in the POST answer."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from router_ext.admin.auth import require_admin
from router_ext.client_keys import ClientKey, KeyRequestError
from router_ext.errors import router_error
from router_ext.state.spend_tracker import subject_of_token, utc_now

if TYPE_CHECKING:
    from router_ext.hook import SmartRouterHook
    from router_ext.store.key_table import KeyTable


class KeyCreate(BaseModel):
    name: str = Field(description="who or what the key is for", examples=["alice-laptop"])
    budget_day_usd: float | None = Field(None, description="daily budget in USD (UTC day)")
    budget_month_usd: float | None = Field(None, description="monthly budget in USD")
    models: list[str] = Field(
        default_factory=list,
        description="allowed model names / globs / tag queries; empty = all",
        examples=[["tag:free", "auto:free"]],
    )


def build_key_router(hook: SmartRouterHook) -> APIRouter:
    router = APIRouter(prefix="/routing", tags=["smart-router"], dependencies=[Depends(require_admin)])

    def table() -> KeyTable:
        store = hook.spend.store
        if store is None or store.engine is None:
            hook.start_now()
            raise router_error(
                503, "store_unavailable", "client keys live in the record store, which is off or not started"
            )
        from router_ext.store.key_table import KeyTable  # the store is up, so SQLAlchemy is loaded

        return KeyTable(store.engine)

    def described(key: ClientKey) -> dict[str, Any]:
        subject = subject_of_token(key.key_hash)
        now = utc_now()
        return {
            **key.public(),
            "spent_today_usd": round(hook.spend.book.spent("key", subject, "day", now), 10),
            "spent_month_usd": round(hook.spend.book.spent("key", subject, "month", now), 10),
        }

    @router.get("/keys", summary="Client keys (never the keys themselves)")
    async def list_keys() -> dict[str, Any]:
        keys = await _guarded(table().all())
        return {"keys": [described(k) for k in keys]}

    @router.post("/keys", status_code=201, summary="Issue a client key; the key is shown only here")
    async def create_key(body: KeyCreate) -> dict[str, Any]:
        try:
            key, raw = await _guarded(
                table().create(body.name, body.budget_day_usd, body.budget_month_usd, body.models)
            )
        except KeyRequestError as error:
            raise router_error(400, "invalid_key_request", str(error)) from None
        hook.keys.put(key)
        return {**described(key), "key": raw, "note": "store this key now: it is not shown again"}

    @router.delete("/keys/{key_id}", summary="Revoke a client key (at once on this replica)")
    async def revoke_key(key_id: str) -> dict[str, Any]:
        key = await _guarded(table().revoke(key_id))
        if key is None:
            raise router_error(
                404,
                "key_not_found",
                f"no client key with id {key_id!r}; see GET /routing/keys",
                param="key_id",
            )
        hook.keys.put(key)
        return described(key)

    return router


async def _guarded(action: Any) -> Any:
    try:
        return await action
    except KeyRequestError:
        raise
    except Exception as error:  # noqa: BLE001  # driver errors vary by database
        raise router_error(
            503, "store_unavailable", f"the key store is unreachable ({type(error).__name__}); try again"
        ) from None
