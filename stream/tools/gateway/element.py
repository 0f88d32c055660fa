"""``GET /v1/ces-prompt.js`` (the ``<ces-prompt>`` web element) and, in demo mode only, ``GET /demo``.

The element is one file of package data (``web/ces-prompt.js``, no build step), read once and served
with an ETag and a cache lifetime. The demo page (``web/demo.html``) exists only with
``CES_GATEWAY_DEMO=true``: it is the one place the gateway mints a user token itself, for the user
named in ``?user=`` (a random one when absent), so anyone who can reach a demo gateway can act as
any user. Never enable it where real users' data flows.
"""

from __future__ import annotations

import hashlib
import html
import re
import secrets
import time
from importlib import resources

import orjson
from aiohttp import web

from stream.ces.gateway import mint_token
from stream.settings import Settings

ELEMENT_FILE = "web/ces-prompt.js"
DEMO_FILE = "web/demo.html"
ELEMENT_MAX_AGE_S = 3600
DEMO_TOKEN_TTL_S = 600
_DEMO_USER = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_LOCALE = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$")


def _package_text(name: str) -> str:
    return resources.files(__package__).joinpath(name).read_text(encoding="utf-8")


class Element:
    """Serves the element's script, and the demo page when the settings allow it."""

    def __init__(self, settings: Settings, goals: frozenset[str]) -> None:
        self.script = _package_text(ELEMENT_FILE).encode()
        self.etag = '"' + hashlib.sha256(self.script).hexdigest()[:20] + '"'
        self.demo = settings.gateway_demo
        self.goals = sorted(goals)
        secret = settings.gateway_token_secret
        self.secret = secret.get_secret_value().encode() if secret is not None else b""

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/v1/ces-prompt.js", self.element, name="element")
        if self.demo:
            app.router.add_get("/demo", self.demo_page, name="demo", allow_head=False)

    async def element(self, request: web.Request) -> web.StreamResponse:
        headers = {
            "Cache-Control": f"public, max-age={ELEMENT_MAX_AGE_S}",
            "ETag": self.etag,
            "Vary": "Accept-Encoding",  # caches keep the gzipped and the plain body apart
        }
        if request.headers.get("If-None-Match") == self.etag:
            return web.Response(status=304, headers=headers)
        response = web.Response(body=self.script, content_type="text/javascript", charset="utf-8", headers=headers)
        response.enable_compression()  # gzip or deflate when the browser accepts it (4.8 kB instead of 13)
        return response

    async def demo_page(self, request: web.Request) -> web.StreamResponse:
        """The demo: a token minted here for ``?user=`` (demo mode only), a button per goal, the element."""
        user = request.query.get("user", "")
        locale = request.query.get("locale", "en")
        if not _DEMO_USER.match(user) or not _LOCALE.match(locale):
            raise web.HTTPFound(f"/demo?user=demo-{secrets.token_hex(6)}")
        token = mint_token(self.secret, user, int(time.time()) + DEMO_TOKEN_TTL_S)
        buttons = "\n".join(
            f'<button type="button" data-goal="{html.escape(goal)}">Complete goal {html.escape(goal)}</button>'
            for goal in self.goals
        )
        page = (
            _package_text(DEMO_FILE)
            .replace("{{user}}", html.escape(user))
            .replace("{{token}}", html.escape(token))
            .replace("{{locale}}", html.escape(locale))
            .replace("{{buttons}}", buttons)
            .replace("{{config}}", orjson.dumps({"user": user, "locale": locale}).decode().replace("<", "\\u003c"))
        )
        return web.Response(
            text=page,
            content_type="text/html",
            headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"},
        )
