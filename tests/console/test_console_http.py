"""The console's HTTP behaviour without a browser: sessions, cookie flags, CSRF, roles, escaping, the API boundary."""

from __future__ import annotations

import datetime as dt
import re

from litestar.testing import TestClient

from metadock.console.once import FORM_LIFETIME, new_token
from tests.console.conftest import login
from tests.console.helpers import PASSWORD, People, csrf_of
from tests.factories import TenantKeys, capture_payload, create_tenant, metadata_body


def test_without_a_session_pages_redirect_to_the_login_form(app_client: TestClient[object]) -> None:
    response = app_client.get("/console/runs?run=5", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/console/login?next=/console/runs%3Frun%3D5"
    assert app_client.get("/console", follow_redirects=False).status_code == 303
    page = app_client.get("/console/login")
    assert page.status_code == 200
    assert 'for="email"' in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert "unsafe-inline" not in page.headers["content-security-policy"]


def test_login_sets_a_hardened_session_cookie_and_the_api_ignores_it(
    app_client: TestClient[object], people: People
) -> None:
    token = csrf_of(app_client.get("/console/login").text)
    response = app_client.post(
        "/console/login",
        data={"email": people.reader, "password": PASSWORD, "csrf_token": token},
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/console"
    cookie = next(value for value in response.headers.get_list("set-cookie") if value.startswith("metadock_console="))
    flags = {part.strip().split("=")[0].lower() for part in cookie.split(";")}
    assert {"httponly", "path", "samesite"} <= flags
    assert "Path=/console" in cookie
    assert "samesite=lax" in cookie.lower()
    assert "Secure" not in cookie  # plain http in development; https or production sets it
    assert app_client.get("/console").status_code == 200
    # The API takes credentials from the Authorization header only: the console's cookie is worth nothing there.
    session = cookie.split(";")[0].split("=", 1)[1]
    assert app_client.get("/metadatas", headers={"Cookie": f"metadock_console={session}"}).status_code == 401


def test_wrong_password_shows_the_form_again(app_client: TestClient[object], people: People) -> None:
    token = csrf_of(app_client.get("/console/login").text)
    response = app_client.post("/console/login", data={"email": people.admin, "password": "nope", "csrf_token": token})
    assert response.status_code == 401
    assert "The email or password is wrong." in response.text
    assert "metadock_console=" not in response.headers.get("set-cookie", "").replace("metadock_console_csrf", "")


def test_a_post_without_a_valid_csrf_token_is_refused_and_changes_nothing(
    app_client: TestClient[object], people: People, acme: TenantKeys
) -> None:
    token = login(app_client, people.writer)
    form = {"owner": "o", "slug": "forged", "type": "t", "title": '{"en": "Forged"}', "data": "{}", "version": "1"}
    form["once"] = new_token()  # a well-formed single-use token: only the CSRF token is wrong
    for bad in ({}, {"csrf_token": "0" * 64}, {"csrf_token": token[:-1] + ("0" if token[-1] != "0" else "1")}):
        response = app_client.post("/console/metadatas/new", data={**form, **bad})
        assert response.status_code == 403
        assert "did not come from this console" in response.text
    assert app_client.get("/metadatas", headers=acme.headers("reader")).json() == []
    # A token from another session (another login) is refused too.
    other = TestClient(app_client.app)
    with other:
        other_token = login(other, people.admin)
    assert app_client.post("/console/metadatas/new", data={**form, "csrf_token": other_token}).status_code == 403
    # The right token works.
    created = app_client.post("/console/metadatas/new", data={**form, "csrf_token": token})
    assert created.status_code == 200
    assert [item["slug"] for item in app_client.get("/metadatas", headers=acme.headers("reader")).json()] == ["forged"]


def test_a_reader_sees_no_edit_buttons_and_a_forged_edit_is_forbidden(
    app_client: TestClient[object], people: People, acme: TenantKeys
) -> None:
    created = app_client.post("/metadatas", json=metadata_body(), headers=acme.headers("writer")).json()
    token = login(app_client, people.reader)
    page = app_client.get(f"/console/metadatas/{created['uuid']}")
    assert page.status_code == 200
    assert "oauth-providers" in page.text
    assert "/edit" not in page.text
    assert "New metadata" not in app_client.get("/console/metadatas").text
    form = {"csrf_token": token, "owner": "x", "slug": "x", "type": "x", "title": '{"en":"x"}', "data": "1"}
    path = f"/console/metadatas/{created['uuid']}"
    assert app_client.post(f"{path}/edit", data={**form, "version": "1"}).status_code == 403
    assert app_client.post(f"{path}/delete", data={"csrf_token": token}).status_code == 403
    assert app_client.get(f"/metadatas/{created['uuid']}", headers=acme.headers()).json()["version"] == 1
    # Admin pages are for admins only.
    assert app_client.get("/console/admin/keys").status_code == 403
    assert app_client.post("/console/admin/keys", data={"csrf_token": token, "role": "admin"}).status_code == 403


def test_invalid_json_redisplays_the_form_and_stores_nothing(
    app_client: TestClient[object], people: People, acme: TenantKeys
) -> None:
    token = login(app_client, people.writer)
    form = {"csrf_token": token, "owner": "o", "slug": "s", "type": "t", "title": '{"en": "T"}', "version": "1"}
    form["once"] = new_token()
    response = app_client.post("/console/metadatas/new", data={**form, "data": '{"broken": '})
    assert response.status_code == 400
    assert "The data is not valid JSON" in response.text
    assert "{&#34;broken&#34;: </textarea>" in response.text  # what was typed is kept (escaped)
    assert app_client.get("/metadatas", headers=acme.headers()).json() == []


def test_logout_revokes_the_session(app_client: TestClient[object], people: People) -> None:
    token = login(app_client, people.reader)
    session = app_client.cookies.get("metadock_console")
    assert session
    response = app_client.post("/console/logout", data={"csrf_token": token}, follow_redirects=False)
    assert response.status_code == 303
    assert 'metadock_console=""' in response.headers["set-cookie"] or "Max-Age=0" in response.headers["set-cookie"]
    # The old token is revoked, not merely forgotten by the browser.
    app_client.cookies.set("metadock_console", session, path="/console")
    assert app_client.get("/console", follow_redirects=False).status_code == 303


def test_hostile_payload_content_is_shown_as_text(
    app_client: TestClient[object], people: People, acme: TenantKeys
) -> None:
    hostile = b'{"name": "<script>alert(1)</script>", "x": "</code></pre><img src=x onerror=alert(2)>"}'
    record = capture_payload(app_client, acme.headers("writer"), hostile)
    html_record = capture_payload(
        app_client, acme.headers("writer"), b"<script>alert(3)</script>", content_type="text/html"
    )
    login(app_client, people.reader)
    for record_id in (record["id"], html_record["id"]):
        page = app_client.get(f"/console/payloads/{record_id}")
        assert page.status_code == 200
        assert "<script>alert" not in page.text
        assert "<img src=x" not in page.text
        assert "&lt;script&gt;alert" in page.text
    run = app_client.get(f"/console/runs/{record['flow_run_id']}")
    assert run.status_code == 200
    compare = app_client.get(f"/console/compare?left={record['id']}&right={html_record['id']}")
    assert compare.status_code == 200
    assert "<script>alert" not in compare.text


def test_large_payloads_are_shown_a_slice_at_a_time_and_binary_shows_as_hex(
    app_client: TestClient[object], people: People, acme: TenantKeys
) -> None:
    big = b"".join(b"line %06d of text\n" % number for number in range(100_000))  # 1.9 MB
    big_record = capture_payload(app_client, acme.headers("writer"), big, content_type="text/plain")
    binary = capture_payload(
        app_client, acme.headers("writer"), bytes(range(256)) * 4, content_type="application/octet-stream"
    )
    login(app_client, people.reader)
    page = app_client.get(f"/console/payloads/{big_record['id']}")
    assert len(page.content) < 1_000_000
    assert "line 000000 of text" in page.text
    shown = page.text.count(" of text")
    assert 100 < shown < 100_000  # a bounded slice, not the whole payload
    more = re.search(r'data-more="([^"]+)"', page.text)
    assert more, "a large payload offers 'show more'"
    following = app_client.get(more.group(1).replace("&amp;", "&"))
    assert following.status_code == 200
    assert f"line {shown:06d} of text" in following.text  # the next slice goes on exactly where the first stopped
    assert f"line {shown - 1:06d} of text" not in following.text
    hex_page = app_client.get(f"/console/payloads/{binary['id']}")
    assert "00000000" in hex_page.text
    assert "00 01 02 03 04 05 06 07 08 09 0a 0b 0c 0d 0e 0f" in hex_page.text
    download = app_client.get(f"/console/payloads/{binary['id']}/download")
    assert download.content == bytes(range(256)) * 4
    assert download.headers["content-disposition"].startswith("attachment")
    assert download.headers["x-content-type-options"] == "nosniff"


def test_another_tenants_payloads_and_metadata_are_not_found(
    app_client: TestClient[object], people: People, sqlite_url: str
) -> None:
    globex = create_tenant(sqlite_url, "globex")
    theirs = capture_payload(app_client, globex.headers("writer"), b"secret")
    login(app_client, people.admin)
    assert app_client.get(f"/console/payloads/{theirs['id']}").status_code == 404
    assert app_client.get(f"/console/payloads/{theirs['id']}/download").status_code == 404
    assert app_client.get(f"/console/runs/{theirs['flow_run_id']}").status_code == 404
    assert app_client.get(f"/console/payloads/{theirs['id']}/slice?at=0.0.0").status_code == 404
    assert app_client.get("/console/runs/newest").json() == {"newest": 0}  # their capture is not news here


def test_a_create_form_older_than_its_lifetime_asks_to_be_reloaded_and_creates_nothing(
    app_client: TestClient[object], people: People, acme: TenantKeys
) -> None:
    """Used tokens are kept only as long as a form is accepted: an older form must not be able to create again."""
    token = login(app_client, people.admin)
    issued = int((dt.datetime.now(dt.UTC) - FORM_LIFETIME - dt.timedelta(minutes=1)).timestamp())
    form = {"csrf_token": token, "once": f"{'a' * 22}.{issued:x}", "name": "stale", "role": "reader"}
    response = app_client.post("/console/admin/keys", data=form)
    assert response.status_code == 400
    assert "This form is out of date" in response.text
    assert "stale" not in app_client.get("/console/admin/keys").text
