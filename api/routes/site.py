"""The site as the dashboard needs it, and the configuration for admins."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from api.auth import Admin, Worker
from api.deps import SettingsDep
from api.schemas import AUTH_ERRORS, SiteOut, WhoAmI
from api.views import site_skus
from gudang import __version__
from gudang.settings import mask_url

router = APIRouter(tags=["site"], responses=AUTH_ERRORS)


@router.get("/site", response_model=SiteOut)
async def get_site(who: Worker, settings: SettingsDep) -> SiteOut:
    """The site, its time zone, the SKU catalogue, and who the token is."""
    return SiteOut(
        site=settings.site.name,
        timezone=settings.site.timezone,
        version=__version__,
        skus=site_skus(settings),  # the stream's `skus` event sends the same
        me=WhoAmI(name=who.name, role=who.role),
        alert_list_kinds=settings.alerts.dashboard_kinds,
    )


@router.get("/admin/settings", response_model=dict[str, Any])
async def get_settings(who: Admin, settings: SettingsDep) -> dict[str, Any]:
    """The settings in force (admins): secrets masked, tokens by name and role only."""
    data = settings.model_dump(mode="json")
    # Hashes are not secrets, but they are nobody's business either.
    data["api"]["tokens"] = [{"name": t.name, "role": t.role} for t in settings.api.tokens]
    # A webhook's URL carries its secret (a Telegram bot's token is in its path).
    data["alerts"]["webhooks"] = [mask_url(u) for u in settings.alerts.webhooks]
    for target in data["alerts"]["notify"]:
        # A bot's token and a signing secret are secrets; a URL may carry one.
        target["url"] = mask_url(target["url"]) if target["url"] else ""
        for secret in ("bot_token", "secret"):
            target[secret] = "***" if target[secret] else ""
    return data
