"""The studio's server seen from outside: plain HTTP requests, no browser.

DNS rebinding (wrong Host), no token / no cookie, the cookie caught by
another local port, cross-origin changes, security headers, upload limits
and the private folder for originals.
"""

from __future__ import annotations

import http.client
import http.cookiejar
import http.server
import json
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from helpers import exiftool_tags, face_on_background, jpeg_with_phone_metadata
from crowdveil.config import Config
from crowdveil.detect.base import Detector
from crowdveil.studio.app import KEY_HEADER
from crowdveil.studio.server import StudioServer
from crowdveil.studio.workspace import Workspace
from crowdveil.types import Detections

UPLOAD_LIMIT = 64 << 10


class Client:
    """Raw HTTP to one studio, with full control of Host, Cookie and Origin."""

    def __init__(self, server: StudioServer) -> None:
        self.server = server
        self.cookie: str | None = None
        self.key: str | None = None  # the page's per-tab secret, from the redirect's fragment

    def request(self, method: str, path: str, *, host: str | None = None, cookie: str | None = None,
                origin: str | None = None, body=None, headers: dict | None = None, chunked: bool = False):
        conn = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=60)
        sent = {"Host": host if host is not None else f"127.0.0.1:{self.server.port}", **(headers or {})}
        if cookie is not None:
            sent["Cookie"] = cookie
        if origin is not None:
            sent["Origin"] = origin
        conn.request(method, path, body=body, headers=sent, encode_chunked=chunked)
        response = conn.getresponse()
        data = response.read()
        conn.close()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, data

    def login(self) -> str:
        status, headers, _ = self.request("GET", f"/?token={self.server.token}")
        assert status == 303, status
        self.cookie = headers["set-cookie"].split(";")[0]
        self.key = headers["location"].partition("#key=")[2]
        return self.cookie

    def get(self, path: str, **kw):
        kw["headers"] = {KEY_HEADER: self.key, **kw.get("headers", {})}
        return self.request("GET", path, cookie=self.cookie, **kw)

    def post(self, path: str, body=b"", **kw):
        kw.setdefault("origin", self.server.origin)
        kw["headers"] = {KEY_HEADER: self.key, **kw.get("headers", {})}
        return self.request("POST", path, cookie=self.cookie, body=body, **kw)


@pytest.fixture
def server(tmp_path):
    workspace = Workspace(Config(preset="fast"), tmp_path / "out", max_upload_bytes=UPLOAD_LIMIT)
    with StudioServer(workspace) as running:
        yield running


@pytest.fixture
def client(server) -> Client:
    c = Client(server)
    c.login()
    return c


def small_jpeg(tmp_path: Path) -> bytes:
    pixels, _ = face_on_background(160, 120, faces=((50, 20, 60),))
    return jpeg_with_phone_metadata(tmp_path / "small.jpg", pixels).read_bytes()


def test_listens_on_loopback_only(server):
    assert server.socket.getsockname()[0] == "127.0.0.1"
    assert server.url.startswith(f"http://127.0.0.1:{server.port}/?token=")


@pytest.mark.parametrize("host", ["evil.example", "evil.example:{port}", "127.0.0.1:{other}", "localhost",
                                  "127.0.0.1", "0.0.0.0:{port}", "[::1]:{port}", "127.0.0.1:{port}.evil.example", "",
                                  "127.0.0.1.nip.io:{port}", "localhost.:{port}", "127.1:{port}", "0x7f000001:{port}",
                                  "[::1]"])
def test_wrong_host_is_refused_even_with_a_valid_cookie(client, server, host):
    """DNS rebinding: another site's page reaching 127.0.0.1 still sends its own Host."""
    host = host.format(port=server.port, other=server.port + 1)
    for method, path in (("GET", "/"), ("GET", "/api/state"), ("GET", f"/?token={server.token}")):
        status, headers, body = client.request(method, path, host=host, cookie=client.cookie)
        assert status == 421, (host, path, status)
        assert b"crowdveil studio" not in body and b"items" not in body
        assert "set-cookie" not in headers
    status, _, _ = client.post("/api/upload?name=a.jpg", b"x" * 10, host=host, origin=f"http://{host}")
    assert status == 421


def test_both_loopback_names_are_accepted(client, server):
    for host in (f"127.0.0.1:{server.port}", f"localhost:{server.port}"):
        status, _, body = client.get("/api/state", host=host)
        assert status == 200 and "items" in json.loads(body)


def test_no_token_no_access(server):
    c = Client(server)
    for path in ("/", "/api/state", "/static/studio.js", "/static/index.html", "/api/items/x/preview", "/nothing"):
        status, headers, body = c.request("GET", path)
        assert status == 403, (path, status)
        assert "set-cookie" not in headers
    status, _, _ = c.request("GET", "/?token=" + "A" * len(server.token))
    assert status == 403
    status, _, _ = c.request("GET", "/", cookie=f"crowdveil_studio_{server.port}={server.token}")
    assert status == 403, "the URL token itself is not a session"
    for cookie in (f"crowdveil_studio_{server.port}=\u00e9t\u00e9", f"crowdveil_studio_{server.port}=", "x=\"\\"):
        status, _, _ = c.request("GET", "/api/state", cookie=cookie.encode().decode("latin-1"))
        assert status == 403, cookie


def test_token_becomes_an_httponly_strict_cookie_once(server):
    c = Client(server)
    status, headers, _ = c.request("GET", f"/?token={server.token}")
    assert status == 303 and re.fullmatch(r"/#key=[\w-]{40,}", headers["location"]), headers["location"]
    cookie = headers["set-cookie"]
    attributes = {a.strip().lower() for a in cookie.split(";")[1:]}
    assert {"httponly", "samesite=strict", "path=/"} <= attributes
    name, value = cookie.split(";")[0].split("=", 1)
    assert value and server.token not in cookie
    status, _, body = c.request("GET", "/", cookie=f"{name}={value}")
    assert status == 200 and b"crowdveil studio" in body
    # The link is one-time: a second browser (no cookie) cannot use it again.
    status, headers, body = c.request("GET", f"/?token={server.token}")
    assert status == 403 and "set-cookie" not in headers
    assert b"already used" in body
    # The browser that has the cookie may follow the link again, but is not handed the page's key again.
    status, headers, _ = c.request("GET", f"/?token={server.token}", cookie=f"{name}={value}")
    assert status == 303 and headers["location"] == "/"


@pytest.mark.parametrize("origin", [None, "http://evil.example", "null", "http://127.0.0.1:{other}",
                                    "https://127.0.0.1:{port}", "http://localhost:{port}"])
def test_state_changes_need_the_cookie_and_a_same_origin_origin(client, server, tmp_path, origin):
    """Only the page's own origin may add files or export (CSRF); ``localhost`` is
    refused here because the request's Host is 127.0.0.1."""
    data = small_jpeg(tmp_path)
    sent_origin = origin.format(port=server.port, other=server.port + 1) if origin else None
    headers = {"Content-Type": "application/octet-stream"}
    status, resp_headers, _ = client.request("POST", "/api/upload?name=a.jpg", cookie=client.cookie,
                                             origin=sent_origin, body=data, headers=headers)
    assert status == 403
    assert "access-control-allow-origin" not in resp_headers
    status, _, _ = client.request("POST", "/api/items/x/export", cookie=client.cookie, origin=sent_origin,
                                  body=b"{}", headers={"Content-Type": "application/json"})
    assert status == 403
    # The same request from the page's origin, but without the cookie: refused too.
    status, _, _ = client.request("POST", "/api/upload?name=a.jpg", origin=server.origin, body=data, headers=headers)
    assert status == 403
    assert json.loads(client.get("/api/state")[2])["items"] == []
    assert [p for p in server.workspace.private_dir.rglob("*") if p.is_file()] == []
    status, _, body = client.post("/api/upload?name=a.jpg", data, headers=headers)
    assert status == 200 and json.loads(body)["name"] == "a.jpg"


def test_security_headers_on_every_answer(client, server):
    answers = [
        client.get("/"), client.get("/static/studio.js"), client.get("/api/state"), client.get("/api/items/nope/preview"),
        client.request("GET", "/"), client.request("GET", "/", host="evil.example"),
        client.post("/api/upload?name=a", b"x", origin="http://evil.example"),
    ]
    for status, headers, _ in answers:
        csp = headers.get("content-security-policy", "")
        assert "default-src 'self'" in csp, (status, headers)
        assert "'unsafe-inline'" not in csp and "'unsafe-eval'" not in csp and "*" not in csp
        assert "frame-ancestors 'none'" in csp
        assert headers.get("x-content-type-options") == "nosniff"
        assert headers.get("referrer-policy") == "no-referrer"
        assert "access-control-allow-origin" not in headers


def test_page_loads_no_inline_or_foreign_code(client):
    """The CSP forbids inline script/style; the page must not need them (and names no other host)."""
    page = client.get("/")[2].decode()
    assert re.findall(r"<script(?![^>]*\bsrc=\"/static/)", page) == []
    assert "<style" not in page and " style=" not in page and "on" + "click=" not in page
    for name in ("index.html", "studio.js", "studio.css", "icon.svg"):
        status, _, body = client.get(f"/static/{name}")
        assert status == 200
        assert re.findall(rb"(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}", body.replace(b"http://www.w3.org/2000/svg", b"")) == []


def test_static_files_are_an_allowlist(client):
    for path in ("/static/app.py", "/static/..%2fapp.py", "/static/%2e%2e/app.py", "/static/../app.py"):
        status, _, body = client.get(path)
        assert status == 404, path
        assert b"import" not in body


def test_upload_size_limit(client, server):
    headers = {"Content-Type": "application/octet-stream"}
    status, _, body = client.post("/api/upload?name=big.jpg", b"\xff" * (UPLOAD_LIMIT + 1), headers=headers)
    assert status == 413 and b"too large" in body
    # Without a Content-Length (chunked), the limit holds while streaming.
    chunks = (b"\xff" * 8192 for _ in range(UPLOAD_LIMIT // 8192 + 2))
    status, _, body = client.post("/api/upload?name=big.jpg", chunks, headers=headers, chunked=True)
    assert status == 413 and b"too large" in body
    status, _, _ = client.post("/api/items/x/export", b"{" + b" " * (1 << 20) + b"}",
                               headers={"Content-Type": "application/json"})
    assert status == 413
    assert [p for p in server.workspace.private_dir.rglob("*") if p.is_file()] == []
    assert json.loads(client.get("/api/state")[2])["items"] == []


def test_uploads_stay_private_and_are_deleted_on_exit(tmp_path):
    workspace = Workspace(Config(preset="fast"), tmp_path / "out", max_upload_bytes=UPLOAD_LIMIT)
    data = small_jpeg(tmp_path)
    with StudioServer(workspace) as server:
        client = Client(server)
        client.login()
        private = workspace.private_dir
        assert private.stat().st_mode & 0o777 == 0o700
        status, _, body = client.post("/api/upload?name=" + "..%2F..%2F..%2Fescape.jpg", data,
                                      headers={"Content-Type": "application/octet-stream"})
        assert status == 200
        item = json.loads(body)
        workspace.wait_idle()
        stored = [p for p in private.rglob("*") if p.is_file() and p.read_bytes() == data]
        assert len(stored) == 1 and stored[0].name == "escape.jpg"
        assert stored[0].stat().st_mode & 0o077 == 0 and stored[0].parent.stat().st_mode & 0o777 == 0o700
        assert stored[0].parent.parent == private, "the name must not lead out of the private folder"
        state = json.loads(client.get("/api/state")[2])
        assert state["items"][0]["status"] == "ready", state
        assert "GPS position" in state["items"][0]["metadata_kinds"]
        # The preview is drawn from decoded pixels: none of the original's metadata.
        status, headers, preview = client.get(f"/api/items/{item['id']}/preview")
        assert status == 200 and headers["content-type"] == "image/jpeg" and preview != data
        (tmp_path / "preview.jpg").write_bytes(preview)
        tags = exiftool_tags(tmp_path / "preview.jpg")
        assert not [k for k in tags if k.split(":")[0] in ("IFD0", "ExifIFD", "GPS", "IFD1", "XMP-x", "XMP-xmp")], tags
    assert not private.exists(), "uploaded originals must be deleted when the studio stops"


def test_malformed_export_requests_are_explained(client, server, tmp_path):
    data = small_jpeg(tmp_path)
    item = json.loads(client.post("/api/upload?name=a.jpg", data, headers={"Content-Type": "application/octet-stream"})[2])
    server.workspace.wait_idle()
    status, _, body = client.post(f"/api/items/{item['id']}/export", json.dumps({"regions": "all"}).encode(),
                                  headers={"Content-Type": "application/json"})
    assert status == 400 and "regions" in json.loads(body)["error"]
    status, _, body = client.post(f"/api/items/{item['id']}/export", b"not json", headers={"Content-Type": "application/json"})
    assert status == 400 and "JSON" in json.loads(body)["error"]


def test_cli_prints_a_one_time_link_and_serves_the_folder(tmp_path):
    folder = tmp_path / "march"
    folder.mkdir()
    pixels, _ = face_on_background(160, 120, faces=((50, 20, 60),))
    jpeg_with_phone_metadata(folder / "a.jpg", pixels)
    jpeg_with_phone_metadata(folder / "b.jpg", pixels)
    proc = subprocess.Popen([sys.executable, "-c", "from crowdveil.cli import main; main()", "studio", str(folder), "--no-browser", "--fast"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=tmp_path)
    try:
        lines = []
        deadline = time.monotonic() + 60
        url = None
        while url is None and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            match = re.search(r"http://127\.0\.0\.1:(\d+)/\?token=([\w-]+)", line)
            url = match
        assert url, "".join(lines)
        port, token = int(url.group(1)), url.group(2)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.request("GET", f"/?token={token}")
        response = conn.getresponse()
        response.read()
        assert response.status == 303
        cookie = response.getheader("set-cookie").split(";")[0]
        key = response.getheader("location").split("#key=", 1)[1]
        conn.request("GET", "/api/state", headers={"Cookie": cookie, KEY_HEADER: key})
        state = json.loads(conn.getresponse().read())
        conn.close()
        assert sorted(i["name"] for i in state["items"]) == ["a.jpg", "b.jpg"]
        assert state["out_dir"] == str(tmp_path / "march-veiled")
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
    assert proc.returncode == 0, "".join(lines) + proc.stdout.read()


class CookieCatcher:
    """Another local listener (any local account or service may open one): it keeps
    the Cookie header of every request a browser sends it."""

    def __init__(self) -> None:
        caught = self.caught = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                caught.append(self.headers.get("Cookie", ""))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> "CookieCatcher":
        self.thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class FoundFace(Detector):
    """The face the analysis "finds", at a known place (the verifier stays the real one)."""

    name = "found-face"

    def __init__(self, box) -> None:
        self.box = box

    def detect(self, rgb):
        return Detections.from_boxes([list(self.box)], score=[0.9])


@pytest.fixture
def studio_with_a_face(tmp_path):
    pixels, (face,) = face_on_background(160, 120, faces=((50, 20, 60),))
    data = jpeg_with_phone_metadata(tmp_path / "small.jpg", pixels).read_bytes()
    workspace = Workspace(Config(preset="fast"), tmp_path / "out", detector=FoundFace(face),
                          max_upload_bytes=UPLOAD_LIMIT)
    with StudioServer(workspace) as server:
        client = Client(server)
        client.login()
        status, _, body = client.post("/api/upload?name=street.jpg", data,
                                      headers={"Content-Type": "application/octet-stream"})
        assert status == 200
        workspace.wait_idle()
        yield server, client, json.loads(body)["id"], face


def test_the_cookie_caught_by_another_local_port_opens_nothing(studio_with_a_face, tmp_path):
    """Cookies do not separate ports: a browser sent to another 127.0.0.1 port hands that
    listener the studio's cookie. With it alone the attacker must get nothing."""
    server, _, item_id, _ = studio_with_a_face
    browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
    # A fresh studio link, opened in this "browser" (the cookie jar keeps cookies by host, as browsers do).
    server.app.token_used = False
    with browser.open(f"{server.url}") as response:
        assert response.status == 200 and b"crowdveil studio" in response.read()
    with CookieCatcher() as attacker:
        browser.open(f"http://127.0.0.1:{attacker.port}/").read()
    stolen = [c for c in attacker.caught[0].split("; ") if c.startswith(f"crowdveil_studio_{server.port}=")]
    assert stolen, f"the listener on another port must have received the studio cookie: {attacker.caught}"
    thief = Client(server)
    thief.cookie = stolen[0]
    thief.key = ""
    for path in ("/api/state", f"/api/items/{item_id}/preview", f"/api/items/{item_id}/download"):
        status, _, body = thief.get(path)
        assert status == 403, (path, status)
        assert b"street" not in body and b"\xff\xd8" not in body[:2]
    status, _, body = thief.get("/")  # the page itself holds no file, no name, no folder
    assert status == 200 and b"street" not in body and str(server.workspace.out_dir).encode() not in body
    status, headers, _ = thief.get(f"/?token={server.token}")
    assert status == 303 and "#" not in headers["location"], "the cookie must not earn the page's key"
    # The export the attack forged: everything "left visible", Origin forged.
    status, _, _ = thief.post(f"/api/items/{item_id}/export",
                              json.dumps({"regions": [], "removed": [{"box": [0, 0, 1024, 10000]}]}).encode(),
                              headers={"Content-Type": "application/json"})
    assert status == 403
    assert not (tmp_path / "out").exists()


def test_a_region_left_visible_must_be_a_face_the_studio_found(studio_with_a_face, tmp_path):
    """Even from the page itself, "left visible" cannot be an arbitrary area: the verifier
    ignores faces there, so a huge box would let a file with no face covered pass."""
    server, client, item_id, face = studio_with_a_face
    export = f"/api/items/{item_id}/export"
    headers = {"Content-Type": "application/json"}
    for removed in ([{"box": [0, 0, 1024, 10000]}], [{"box": [0, 0, 40, 40]}],
                    [{"box": list(face)}, {"box": [0, 0, 1024, 10000]}],
                    [{"box": [0, 0, 1024, 10000], "kind": "face", "source": "detector", "score": 1}]):
        status, _, body = client.post(export, json.dumps({"regions": [], "removed": removed}).encode(), headers=headers)
        assert status == 400, (removed, status, body)
        assert "face the studio found" in json.loads(body)["error"]
    assert not (tmp_path / "out").exists()
    # The face itself, as found (or nudged a little), may be left visible: the person clicked it.
    nudged = [face[0] + 2, face[1] + 2, face[2] + 2, face[3] + 2]
    status, _, body = client.post(export, json.dumps({"regions": [], "removed": [{"box": nudged}]}).encode(),
                                  headers=headers)
    assert status == 200, body
    assert json.loads(body)["status"] == "exported"


def test_an_unrelated_or_planted_cookie_does_not_lock_the_user_out(client, server):
    """Other local apps set cookies for 127.0.0.1 too (a JSON value stopped the old parser),
    and another port can plant a same-named cookie that the browser sends first."""
    ours = client.cookie
    name = ours.split("=", 1)[0]
    for header in (f'prefs={{"theme":"dark"}}; {ours}', f'{ours}; prefs={{"theme":"dark"}}; x="\\',
                   f"{name}=planted-by-another-port; {ours}", f"a=b;;{ours};c"):
        status, _, body = client.request("GET", "/api/state", cookie=header, headers={KEY_HEADER: client.key})
        assert status == 200, header
        assert "items" in json.loads(body)
    status, _, _ = client.request("GET", "/api/state", cookie=f'prefs={{"theme":"dark"}}; {name}=planted',
                                  headers={KEY_HEADER: client.key})
    assert status == 403


def _start_studio_cli(tmp_path: Path, *args: str, env: dict | None = None):
    """``crowdveil studio`` in a process of its own; returns it and the port/token it printed."""
    import os

    proc = subprocess.Popen([sys.executable, "-c", "from crowdveil.cli import main; main()", "studio", *args, "--fast"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=tmp_path,
                            env={**os.environ, **(env or {})})
    lines = []
    while True:
        line = proc.stdout.readline()
        assert line, "".join(lines)
        lines.append(line)
        match = re.search(r"http://127\.0\.0\.1:(\d+)/\?token=([\w-]+)", line)
        if match:
            return proc, int(match.group(1)), match.group(2), lines


def _stop(proc, sig=signal.SIGINT) -> int:
    proc.send_signal(sig)
    try:
        return proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.stdout.close()


def test_the_browser_is_opened_without_the_link_on_its_command_line(tmp_path):
    """Every local user can read a starting browser's argv (/proc/*/cmdline): the one-time
    link must not be in it. The browser gets a 0600 page in the private folder instead."""
    argv_file = tmp_path / "browser-argv.txt"
    browser = tmp_path / "browser.sh"
    browser.write_text(f"#!/bin/sh\nprintf '%s\\n' \"$@\" > {argv_file}\n")
    browser.chmod(0o700)
    proc, port, token, _ = _start_studio_cli(tmp_path, env={"BROWSER": f"{browser} %s"})
    try:
        for _ in range(600):
            if argv_file.exists() and argv_file.read_text().strip():
                break
            time.sleep(0.05)
        argv = argv_file.read_text()
        assert token not in argv, "the token must never be on a command line"
        launcher = Path(argv.strip().removeprefix("file://"))
        assert launcher.name == "open-studio.html" and launcher.stat().st_mode & 0o777 == 0o600
        assert launcher.parent.stat().st_mode & 0o777 == 0o700
        page = launcher.read_text()
        assert f"http://127.0.0.1:{port}/?token={token}" in page and 'http-equiv="refresh"' in page
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.request("GET", f"/?token={token}")
        assert conn.getresponse().status == 303, "the link the launcher opens still works"
        conn.close()
    finally:
        code = _stop(proc)
    assert code == 0
    assert not launcher.parent.exists()


@pytest.mark.parametrize("signame", ["SIGHUP", "SIGQUIT", "SIGTERM"])
def test_closing_the_terminal_deletes_the_uploaded_originals(tmp_path, signame):
    """SIGHUP (the terminal closed) and SIGQUIT used to end the studio on the spot, leaving
    uploaded originals and previews in the private folder."""
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700)
    data = small_jpeg(tmp_path)
    proc, port, token, _ = _start_studio_cli(tmp_path, "--no-browser", env={"XDG_RUNTIME_DIR": str(runtime)})
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.request("GET", f"/?token={token}")
        response = conn.getresponse()
        response.read()
        headers = {"Cookie": response.getheader("set-cookie").split(";")[0],
                   KEY_HEADER: response.getheader("location").partition("#key=")[2],
                   "Origin": f"http://127.0.0.1:{port}", "Content-Type": "application/octet-stream"}
        conn.request("POST", "/api/upload?name=street.jpg", body=data, headers=headers)
        upload = conn.getresponse()
        upload.read()
        assert upload.status == 200
        conn.close()
        (private,) = runtime.iterdir()  # the private folder is made in $XDG_RUNTIME_DIR
        assert private.name.startswith("crowdveil-studio-")
        assert [p for p in private.rglob("*") if p.is_file() and p.read_bytes() == data]
    finally:
        _stop(proc, getattr(signal, signame))
    assert list(runtime.iterdir()) == [], f"{signame} left the private folder behind"


def test_private_folders_of_dead_studios_are_removed_at_start(tmp_path, monkeypatch):
    """A studio killed outright (kill -9, a crash) cannot clean up: the next one does."""
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    try:
        dead_name, alive_name = f"crowdveil-studio-{dead.pid}-abcd", f"crowdveil-studio-{alive.pid}-abcd"
        for name in (dead_name, alive_name):
            (runtime / name / "item").mkdir(parents=True, mode=0o700)
            (runtime / name / "item" / "original.jpg").write_bytes(b"\xff\xd8 someone's face")
        (runtime / "crowdveil-studio-nopid").mkdir(mode=0o700)
        (runtime / "crowdveil-studio-12345678").mkdir(mode=0o700)  # an older studio's random name, all digits
        workspace = Workspace(Config(preset="fast"), tmp_path / "out")
        try:
            assert workspace.private_dir.parent == runtime
            left = sorted(p.name for p in runtime.iterdir())
            assert dead_name not in left
            assert {alive_name, "crowdveil-studio-nopid", "crowdveil-studio-12345678",
                    workspace.private_dir.name} <= set(left)
        finally:
            workspace.close()
    finally:
        alive.kill()
        alive.wait()


def test_a_runtime_folder_others_can_enter_is_not_used(tmp_path, monkeypatch):
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o755)
    runtime.chmod(0o755)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    workspace = Workspace(Config(preset="fast"), tmp_path / "out")
    try:
        assert workspace.private_dir.parent != runtime
    finally:
        workspace.close()
