"""The studio's web app (Starlette) and the guard in front of it.

The guard answers before any route does:

* the ``Host`` header must be ``127.0.0.1:<port>`` or ``localhost:<port>``:
  a page on another site that re-points its own name at 127.0.0.1 (DNS
  rebinding) sends its own name and is refused;
* access needs the session cookie. The URL that ``crowdveil studio`` prints
  carries a one-time token; the first visit trades it for an ``HttpOnly``,
  ``SameSite=Strict`` cookie holding a different secret and redirects to a
  token-free URL. The spent token stays in the browser's history, where it
  opens nothing;
* the cookie alone opens only the page and its assets, never ``/api/``:
  cookies do not separate ports, and ``SameSite`` counts every port of
  127.0.0.1 as one site, so any local listener the browser is sent to
  receives the cookie. The redirect that spends the token also hands the
  page a second secret in the URL fragment (never sent over the wire, so
  never to another port); the page keeps it in ``sessionStorage`` (one per
  origin, that is per port, and per tab) and sends it as the
  ``X-Crowdveil-Key`` header on every API request, images included (fetched
  and shown from ``blob:`` URLs). It is handed out once, with the token;
* requests that change anything (every method but GET/HEAD) also need an
  ``Origin`` equal to the page's own origin;
* every response carries a strict Content-Security-Policy (``default-src
  'self'``, no inline script or style) and no-cache, no-referrer,
  no-framing headers. No CORS header is ever sent.

Routes (all JSON but the page, its assets and the image/video files):
``GET /api/state``, ``POST /api/upload?name=…`` (raw bytes),
``GET /api/items/{id}/preview``, ``GET /api/items/{id}/result``, ``POST /api/items/{id}/export``,
``GET /api/items/{id}/download``, ``GET /api/items/{id}/frames/{n}``, ``GET /api/items/{id}/review/{n}``,
``POST /api/items/{id}/remove``, ``POST /api/items/{id}/text`` (look for text in a photo, once),
``GET /catalog?lang=…`` (the page's text in its language: ``lang``,
else the browser's ``Accept-Language``; no secret in it, so the cookie alone opens it, as it opens the page;
the page sends its chosen language as ``Accept-Language`` on every request, and refusals come back in it).
"""

from __future__ import annotations

import hmac
import json
import os
import secrets
from contextlib import asynccontextmanager
from importlib import resources
from pathlib import Path
from urllib.parse import parse_qs

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from .. import i18n
from .workspace import StudioError, Workspace

__all__ = ["create_app", "SECURITY_HEADERS", "CSP", "MAX_JSON_BYTES", "KEY_HEADER", "KEY_FRAGMENT"]

CSP = (
    "default-src 'self'; img-src 'self' blob:; media-src blob:; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "content-security-policy": CSP,
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
    "cross-origin-opener-policy": "same-origin",
    "cross-origin-resource-policy": "same-origin",
    "cache-control": "no-store",
}
MAX_JSON_BYTES = 1 << 20
_STATIC = {
    "index.html": "text/html; charset=utf-8",
    "studio.js": "text/javascript; charset=utf-8",
    "studio.css": "text/css; charset=utf-8",
    "icon.svg": "image/svg+xml",
}
_SAFE_METHODS = {"GET", "HEAD"}
# The page's per-tab secret: sent by the page as this header; handed to it in the fragment "#key=…".
KEY_HEADER = "x-crowdveil-key"
KEY_FRAGMENT = "key"


class Guard:
    """ASGI middleware: Host, token/cookie and Origin checks, security headers on every response."""

    def __init__(self, app, *, port: int, token: str) -> None:
        self.app = app
        self.port = port
        self.token = token
        self.session = secrets.token_urlsafe(32)
        self.page_key = secrets.token_urlsafe(32)
        self.token_used = False
        self.cookie_name = f"crowdveil_studio_{port}"
        self.hosts = {f"127.0.0.1:{port}", f"localhost:{port}"}

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, receive, send)
            return
        if scope["type"] != "http":  # no websockets
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        host = headers.get("host", "")
        method = scope["method"]

        async def send_secured(message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [
                    (k, v) for k, v in message.get("headers", []) if k.decode("latin-1").lower() not in SECURITY_HEADERS
                ] + [(k.encode(), v.encode()) for k, v in SECURITY_HEADERS.items()]
            await send(message)

        async def answer(status: int, text: str, extra: dict[str, str] | None = None) -> None:
            await PlainTextResponse(text, status, headers=extra)(scope, receive, send_secured)

        if host not in self.hosts:
            await answer(421, "refused: this studio only answers to 127.0.0.1 and localhost on its own port")
            return
        has_session = any(_same_secret(value, self.session) for value in self._cookies(headers))
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        if scope["path"] == "/" and method in _SAFE_METHODS and "token" in query:
            if self._take_token(query["token"][0]):
                cookie = f"{self.cookie_name}={self.session}; HttpOnly; SameSite=Strict; Path=/"
                await answer(303, "opening the studio",
                             {"location": f"/#{KEY_FRAGMENT}={self.page_key}", "set-cookie": cookie})
            elif has_session:
                # The cookie travels to every port of 127.0.0.1: holding it earns the page, never the key.
                await answer(303, "opening the studio", {"location": "/"})
            else:
                await answer(403, "This studio link was already used or is wrong. Stop crowdveil studio "
                                  "(Ctrl-C) and start it again for a new link.")
            return
        if not has_session:
            await answer(403, "no access: open the link that `crowdveil studio` printed in the terminal")
            return
        if scope["path"].startswith("/api/") and not _same_secret(headers.get(KEY_HEADER, ""), self.page_key):
            await answer(403, "no access: only the browser tab that opened the studio's link may use it. Stop "
                              "crowdveil studio (Ctrl-C) and start it again for a new link.")
            return
        if method not in _SAFE_METHODS and headers.get("origin") != f"http://{host}":
            await answer(403, "refused: changes are accepted from the studio page only (wrong or missing Origin)")
            return
        await self.app(scope, receive, send_secured)

    def _cookies(self, headers: dict[str, str]) -> list[str]:
        """Every value sent under our cookie's name. Other apps' cookies (any syntax, JSON values
        included) are skipped, and a same-named one planted by another port (cookies do not
        separate ports) cannot hide ours."""
        values = []
        for pair in headers.get("cookie", "").split(";"):
            name, sep, value = pair.strip().partition("=")
            if sep and name.strip() == self.cookie_name:
                values.append(value.strip())
        return values

    def _take_token(self, given: str) -> bool:
        if self.token_used or not _same_secret(given, self.token):
            return False
        self.token_used = True
        return True


def _same_secret(given: str, expected: str) -> bool:
    # Non-ASCII header text cannot be compared as str in constant time; it is never a secret of ours.
    return hmac.compare_digest(given.encode("utf-8", "replace"), expected.encode())


def create_app(workspace: Workspace, *, port: int, token: str) -> Guard:
    """The guarded ASGI app for ``workspace``, answering on 127.0.0.1:``port``."""

    async def page(request: Request) -> Response:
        return _static("index.html")

    async def asset(request: Request) -> Response:
        return _static(request.path_params["name"])

    async def state(request: Request) -> Response:
        from ..redact import bodies, regions

        return JSONResponse({
            "items": [item.to_dict() for item in workspace.items()],
            "out_dir": str(workspace.out_dir),
            "out_dir_shown": _home_as_tilde(workspace.out_dir),
            "defaults": {"style": workspace.config.style, "shape": workspace.config.shape,
                         "padding": workspace.config.padding, "fill_color": list(workspace.config.fill_color),
                         "cover": [c for c in workspace.config.cover if c != "faces"]},
            # The geometry the export paints text and bodies with (``redact``), so the page draws the same covers.
            "geometry": {"text_padding": regions.TEXT_PADDING, "body_above": bodies.ABOVE, "body_below": bodies.BELOW,
                         "body_half_width": bodies.HALF_WIDTH, "body_merge": bodies.MERGE_OVERLAP},
            "max_upload_bytes": workspace.max_upload_bytes,
        })

    async def upload(request: Request) -> Response:
        name = request.query_params.get("name", "")
        item_id, path = workspace.new_upload_path(name or "upload")
        try:
            await _receive_to(request, path, workspace.max_upload_bytes)
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        return JSONResponse(workspace.add_upload(item_id, path).to_dict())

    async def preview(request: Request) -> Response:
        item = workspace.get(request.path_params["id"])
        if item.preview is None:
            raise StudioError("server.no_preview", 404)
        return FileResponse(item.preview)

    async def result(request: Request) -> Response:
        item = workspace.get(request.path_params["id"])
        if item.result_preview is None:
            raise StudioError("server.no_result", 404)
        return FileResponse(item.result_preview)

    async def export(request: Request) -> Response:
        body = json.loads(await _read_limited(request, MAX_JSON_BYTES) or b"{}")
        item = workspace.get(request.path_params["id"])
        if not isinstance(body, dict):
            raise StudioError("server.expected_object")
        style, shape = str(body.get("style", item.style)), str(body.get("shape", item.shape))
        cover = body.get("cover", [])
        if not isinstance(cover, list):
            raise StudioError("server.bad_setting", detail="cover must be a list")
        if item.media == "video":
            fixes = body.get("fixes", [])
            if not isinstance(fixes, list):
                raise StudioError("server.lists")
            item = workspace.start_video_export(item.id, style, shape, keep_audio=body.get("keep_audio") is True,
                                                fixes=fixes, cover=cover)
        else:
            regions, removed = body.get("regions", []), body.get("removed", [])
            if not isinstance(regions, list) or not isinstance(removed, list):
                raise StudioError("server.lists")
            item = await run_in_threadpool(workspace.export_photo, item.id, regions, removed, style, shape, cover)
        return JSONResponse(item.to_dict())

    async def find_text(request: Request) -> Response:
        item = await run_in_threadpool(workspace.find_text, request.path_params["id"])
        return JSONResponse(item.to_dict())

    async def download(request: Request) -> Response:
        item = workspace.get(request.path_params["id"])
        if item.status != "exported" or item.destination is None or not item.destination.exists():
            raise StudioError("server.no_export", 404)
        return FileResponse(item.destination, filename=item.destination.name)

    async def frame(request: Request) -> Response:
        item = workspace.get(request.path_params["id"])
        n = request.path_params["n"]
        if not 0 <= n < len(item.result_frames):
            raise StudioError("server.no_frame", 404)
        return FileResponse(item.result_frames[n])

    async def review_frame(request: Request) -> Response:
        item = workspace.get(request.path_params["id"])
        n = request.path_params["n"]
        if not 0 <= n < len(item.review_frames):
            raise StudioError("server.no_frame", 404)
        return FileResponse(item.review_frames[n][1])

    async def remove(request: Request) -> Response:
        workspace.remove(request.path_params["id"])
        return JSONResponse({"removed": request.path_params["id"]})

    async def page_catalog(request: Request) -> Response:
        asked = request.query_params.get("lang", "")
        language = asked if asked in i18n.LANGUAGES else i18n.negotiate(request.headers.get("accept-language"))
        return JSONResponse({
            "language": language,
            "languages": [{"tag": tag, "name": i18n.catalog("studio", tag)("language.name")} for tag in i18n.LANGUAGES],
            "messages": i18n.catalog("studio", language).messages(),
        })

    routes = [
        Route("/", page),
        Route("/static/{name}", asset),
        Route("/api/state", state),
        Route("/api/upload", upload, methods=["POST"]),
        Route("/api/items/{id}/preview", preview),
        Route("/api/items/{id}/result", result),
        Route("/api/items/{id}/export", export, methods=["POST"]),
        Route("/api/items/{id}/download", download),
        Route("/api/items/{id}/frames/{n:int}", frame),
        Route("/api/items/{id}/review/{n:int}", review_frame),
        Route("/api/items/{id}/remove", remove, methods=["POST"]),
        Route("/api/items/{id}/text", find_text, methods=["POST"]),
        Route("/catalog", page_catalog),
    ]

    async def studio_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StudioError)
        return JSONResponse({"error": exc.text(i18n.negotiate(request.headers.get("accept-language")))}, exc.status)

    async def bad_json(request: Request, exc: Exception) -> Response:
        return await studio_error(request, StudioError("server.bad_json"))

    @asynccontextmanager
    async def lifespan(app):
        try:
            yield
        finally:
            workspace.close()

    app = Starlette(routes=routes, lifespan=lifespan,
                    exception_handlers={StudioError: studio_error, json.JSONDecodeError: bad_json})
    return Guard(app, port=port, token=token)


def _home_as_tilde(path: Path) -> str:
    """``path`` with the home folder shown as ``~``: shorter, and the page names no user account."""
    home = Path.home()
    try:
        return str(Path("~") / path.relative_to(home))
    except ValueError:
        return str(path)


def _static(name: str) -> Response:
    if name not in _STATIC:
        return PlainTextResponse("not found", 404)
    data = resources.files("crowdveil.studio").joinpath("static", name).read_bytes()
    return Response(data, media_type=_STATIC[name])


async def _read_limited(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        raise StudioError("server.request_too_large", 413, limit=limit)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise StudioError("server.request_too_large", 413, limit=limit)
        chunks.append(chunk)
    return b"".join(chunks)


async def _receive_to(request: Request, path: Path, limit: int) -> None:
    """Stream an upload into ``path`` (private folder), refusing it past ``limit`` bytes."""
    declared = request.headers.get("content-length")
    too_large = StudioError("server.file_too_large", 413, mib=limit // (1 << 20))
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        raise too_large
    size = 0
    with open(path, "xb", opener=lambda p, flags: os.open(p, flags, 0o600)) as fh:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise too_large
            fh.write(chunk)
    if size == 0:
        path.unlink()
        raise StudioError("server.empty_file")
