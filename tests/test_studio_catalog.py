"""The studio's new routes seen from outside (plain HTTP): the page's catalog, removing a file,
refusals in the page's language, the output folder shown without the home folder's path."""

from __future__ import annotations

import json

from test_studio_security import Client, server, small_jpeg  # noqa: F401 - the server fixture

from crowdveil import i18n


def test_catalog_needs_the_session_and_follows_accept_language(server):  # noqa: F811
    anonymous = Client(server)
    assert anonymous.request("GET", "/catalog")[0] == 403, "no cookie, no catalog (as for the page)"
    client = Client(server)
    client.login()
    status, headers, body = client.request("GET", "/catalog", cookie=client.cookie,
                                           headers={"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.5"})
    assert status == 200 and headers["content-security-policy"].startswith("default-src 'self'")
    catalog = json.loads(body)
    assert catalog["language"] == "zh-CN"
    assert catalog["messages"] == i18n.catalog("studio", "zh-CN").messages()
    assert {entry["tag"] for entry in catalog["languages"]} == set(i18n.LANGUAGES)
    # The switch in the page asks by name, whatever the browser prefers; an unknown name is negotiated.
    assert json.loads(client.request("GET", "/catalog?lang=en", cookie=client.cookie,
                                     headers={"Accept-Language": "zh-CN"})[2])["language"] == "en"
    assert json.loads(client.request("GET", "/catalog?lang=xx", cookie=client.cookie,
                                     headers={"Accept-Language": "en-GB"})[2])["language"] == "en"


def test_refusals_come_back_in_the_page_language(server):  # noqa: F811
    client = Client(server)
    client.login()
    status, _, body = client.post("/api/upload?name=e.jpg", b"", headers={"Accept-Language": "zh-CN"})
    assert status == 400 and json.loads(body)["error"] == i18n.catalog("studio", "zh-CN")("server.empty_file")
    status, _, body = client.post("/api/upload?name=e.jpg", b"")
    assert status == 400 and json.loads(body)["error"] == "the file is empty (0 bytes)"


def test_remove_needs_the_key_and_the_origin_and_deletes_the_upload(server, tmp_path):  # noqa: F811
    client = Client(server)
    client.login()
    status, _, body = client.post("/api/upload?name=a.jpg", small_jpeg(tmp_path))
    assert status == 200
    item = json.loads(body)
    server.workspace.wait_idle()
    folder = server.workspace.private_dir / item["id"]
    assert folder.exists()
    path = f"/api/items/{item['id']}/remove"
    assert client.request("POST", path, cookie=client.cookie, origin=server.origin)[0] == 403, "no key"
    assert client.post(path, origin="http://evil.example")[0] == 403, "wrong origin"
    assert folder.exists()
    status, _, body = client.post(path)
    assert status == 200 and json.loads(body) == {"removed": item["id"]}
    assert not folder.exists()
    assert json.loads(client.get("/api/state")[2])["items"] == []
    assert client.post(path)[0] == 404


def test_output_folder_is_shown_from_home(server, monkeypatch, tmp_path):  # noqa: F811
    client = Client(server)
    client.login()
    monkeypatch.setenv("HOME", str(tmp_path))
    state = json.loads(client.get("/api/state")[2])
    assert state["out_dir"] == str(tmp_path / "out")
    assert state["out_dir_shown"] == "~/out"
