"""The web console at ``/console``: server-rendered pages over the same services and permissions as the APIs."""

from __future__ import annotations

from litestar import Router, get
from litestar.response import Redirect
from litestar.static_files import create_static_files_router

from metadock.console import (
    views_admin,
    views_auth,
    views_compare,
    views_metadatas,
    views_payloads,
    views_runs,
    views_search,
    views_tag_rules,
    views_webhooks,
)
from metadock.console.rendering import STATIC_DIR, handle_console_error
from metadock.console.session import console_guard
from metadock.kit.authentication import PUBLIC


@get("/favicon.ico", opt={PUBLIC: True}, include_in_schema=False)
async def favicon() -> Redirect:
    """Browsers and tools ask for /favicon.ico whatever the page says: point them at the console's icon."""
    return Redirect("/console/static/favicon.svg", status_code=301)


_HANDLERS = [
    views_auth.login_page,
    views_auth.login_submit,
    views_auth.logout,
    views_runs.overview,
    views_runs.runs_list,
    views_runs.runs_newest,
    views_runs.run_detail,
    views_runs.run_archive,
    views_search.tag_search,
    views_search.tag_search_export,
    views_payloads.find_payload,
    views_payloads.payload_page,
    views_payloads.payload_slice,
    views_payloads.payload_download,
    views_compare.compare_page,
    views_metadatas.metadata_list,
    views_metadatas.metadata_export,
    views_metadatas.metadata_new,
    views_metadatas.metadata_create,
    views_metadatas.metadata_view,
    views_metadatas.metadata_edit,
    views_metadatas.metadata_update,
    views_metadatas.metadata_confirm_delete,
    views_metadatas.metadata_delete,
    views_admin.keys_page,
    views_admin.key_create,
    views_admin.key_confirm_revoke,
    views_admin.key_revoke,
    views_admin.users_page,
    views_admin.user_create,
    views_admin.user_update,
    views_tag_rules.tag_rules_page,
    views_tag_rules.tag_rule_create,
    views_tag_rules.tag_rule_delete,
    views_webhooks.webhooks_page,
    views_webhooks.webhook_create,
    views_webhooks.webhook_detail,
    views_webhooks.webhook_delete,
]


def console_routers() -> list[Router]:
    """The console's pages (session, CSRF and role checked by one guard) and its static files (public)."""
    pages = Router(
        path="/console",
        route_handlers=_HANDLERS,
        guards=[console_guard],
        exception_handlers={Exception: handle_console_error},
        include_in_schema=False,
    )
    static = create_static_files_router(
        path="/console/static",
        directories=[STATIC_DIR],
        include_in_schema=False,
        cache_control=None,
        name="console_static",
    )
    return [pages, static, Router(path="/", route_handlers=[favicon], include_in_schema=False)]


__all__ = ["console_routers"]
