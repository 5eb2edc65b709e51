"""`/routing/keys`: client keys for admins. A new key is shown once, in the POST answer."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field

from router_ext.admin.auth import require_admin

if TYPE_CHECKING:
    from router_ext.runtime.runtime import RouterRuntime


class KeyCreate(BaseModel):
    # strict: `true` or "10" is not a budget, and an unknown field (a key of one's own) is refused
    model_config = ConfigDict(extra="forbid", strict=True)

    name: str = Field(description="who or what the key is for", examples=["alice-laptop"])
    budget_day_usd: float | None = Field(
        None, allow_inf_nan=False, description="daily budget in USD (UTC day)"
    )
    budget_month_usd: float | None = Field(None, allow_inf_nan=False, description="monthly budget in USD")
    models: list[str] = Field(
        default_factory=list,
        description="allowed model names / globs / tag queries; empty = all",
        examples=[["tag:free", "auto:free"]],
    )


def build_key_router(runtime: RouterRuntime) -> APIRouter:
    router = APIRouter(prefix="/routing", tags=["smart-router"], dependencies=[Depends(require_admin)])
    admin = runtime.admin

    @router.get("/keys", summary="Client keys (never the keys themselves)")
    async def list_keys() -> dict[str, Any]:
        return {"keys": await admin.keys()}

    @router.post("/keys", status_code=201, summary="Issue a client key; the key is shown only here")
    async def create_key(body: KeyCreate) -> dict[str, Any]:
        return await admin.create_key(body.name, body.budget_day_usd, body.budget_month_usd, body.models)

    @router.delete("/keys/{key_id}", summary="Revoke a client key (at once on this replica)")
    async def revoke_key(key_id: str) -> dict[str, Any]:
        return await admin.revoke_key(key_id)

    return router
