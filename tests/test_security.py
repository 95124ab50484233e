"""The studio refuses other websites: Host (DNS rebinding), Origin / Sec-Fetch-Site (cross-site requests), bodies bounded
while they stream, security headers, token rules.  Everything talks to 127.0.0.1 only."""

from __future__ import annotations

import socket
import threading
import time

import pytest
from fastapi.testclient import TestClient

from emodub.service import create_app
from emodub.service.guard import host_name, served_names
from test_cli import emodub

OWN = "http://127.0.0.1:8731"


@pytest.fixture
def studio(tmp_path):
    return create_app(tmp_path / "data", run_workers=False, max_upload_mb=1, allowed_hosts=("dub.example.org",))


@pytest.mark.parametrize("base", ["http://attacker.example", "http://attacker.example:8731", "http://127.0.0.2:8731",
                                  "http://localhost.attacker.example", "http://[::2]:8731"])
@pytest.mark.parametrize("path", ["/api/jobs", "/", "/static/app.js", "/docs"])
def test_a_request_naming_another_host_is_refused(studio, base, path):
    with TestClient(studio, base_url=base) as client:
        answer = client.get(path)
    assert answer.status_code == 403 and "is not this studio's address" in answer.json()["error"]


@pytest.mark.parametrize("base", [OWN, "http://localhost:8731", "http://[::1]:8731", "http://dub.example.org", "http://LOCALHOST"])
def test_its_own_names_are_served(studio, base):
    with TestClient(studio, base_url=base) as client:
        assert client.get("/api/jobs").status_code == 200


CHANGES = [("post", "/api/jobs"), ("post", "/api/say"), ("post", "/api/jobs/abc/cues/1"), ("delete", "/api/jobs/abc"),
           ("put", "/api/jobs/abc"), ("patch", "/api/jobs/abc")]


@pytest.mark.parametrize(("method", "path"), CHANGES)
@pytest.mark.parametrize("headers", [{"Origin": "http://attacker.example"}, {"Origin": "null"},
                                     {"Origin": "http://127.0.0.1:9999"},  # another site on the same machine
                                     {"Sec-Fetch-Site": "cross-site"}, {"Sec-Fetch-Site": "same-site"}])
def test_a_change_from_another_website_is_refused(studio, method, path, headers):
    with TestClient(studio, base_url=OWN) as client:
        answer = client.request(method, path, headers={**headers, "Content-Type": "text/plain"}, content=b'{"text": "hijacked"}')
    assert answer.status_code == 403 and "may not change anything here" in answer.json()["error"]


@pytest.mark.parametrize("headers", [{}, {"Origin": OWN}, {"Origin": OWN, "Sec-Fetch-Site": "same-origin"}, {"Sec-Fetch-Site": "none"},
                                     {"Origin": "https://dub.example.org"}])  # the page through its reverse proxy
def test_the_studio_page_and_plain_clients_may_change_things(studio, headers):
    with TestClient(studio, base_url=OWN) as client:
        answer = client.post("/api/jobs", headers=headers)
    assert answer.status_code not in (401, 403)  # refused for what it lacks (no video), not for where it came from


@pytest.mark.parametrize("path", ["/", "/api/jobs", "/static/app.js", "/api/jobs/nope", "/docs"])
def test_every_response_carries_the_security_headers(studio, path):
    with TestClient(studio, base_url=OWN) as client:
        headers = client.get(path).headers
    policy = headers["content-security-policy"]
    assert "frame-ancestors 'none'" in policy and "default-src 'self'" in policy
    assert ("script-src 'self' 'unsafe-inline'" in policy) == (path == "/docs")  # only Swagger UI needs its inline start
    assert headers["x-frame-options"] == "DENY" and headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "no-referrer"


@pytest.mark.parametrize("path", ["/api/say/..%2F..%2Fjobs.sqlite3/line.wav", "/static/..%2F..%2F__init__.py", "/api/jobs/..%2Fjobs/video"])
def test_paths_out_of_the_studio_are_not_found(studio, path):
    with TestClient(studio, base_url=OWN) as client:
        assert client.get(path).status_code == 404


@pytest.mark.parametrize(("header", "expected"), [("127.0.0.1:8731", "127.0.0.1"), ("[::1]:8731", "::1"), ("::1", "::1"),
                                                  ("LocalHost", "localhost"), ("dub.example.org:443", "dub.example.org")])
def test_host_names_are_read_without_port_or_brackets(header, expected):
    assert host_name(header) == expected


def test_a_wildcard_bind_leaves_the_host_to_the_token():
    assert served_names("0.0.0.0") is None and "192.168.1.5" in served_names("192.168.1.5")


# -- a body past the limit, streamed in chunks (no Content-Length), on a real server -------------------------------------
def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def live_studio(tmp_path):
    import uvicorn

    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(tmp_path / "data", run_workers=False, max_upload_mb=1), host="127.0.0.1",
                                           port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield port, tmp_path
    server.should_exit = True
    thread.join(10)


def test_a_chunked_upload_past_the_limit_stops_at_the_limit(live_studio):
    port, folder = live_studio
    chunk = b"x" * (64 << 10)
    sent = 0
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.sendall(f"POST /api/jobs HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nTransfer-Encoding: chunked\r\n"
                     "Content-Type: multipart/form-data; boundary=B\r\n\r\n".encode())
        conn.sendall(b"%x\r\n%s\r\n" % (len(b'--B\r\nContent-Disposition: form-data; name="video"; filename="v.mp4"\r\n\r\n'),
                                        b'--B\r\nContent-Disposition: form-data; name="video"; filename="v.mp4"\r\n\r\n'))
        try:
            while sent < (40 << 20):  # 40 MB against a 1-MB limit
                conn.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                sent += len(chunk)
        except OSError:  # the server answered and closed: it stopped reading
            pass
        answer = conn.recv(4096).decode("latin-1")
    assert answer.startswith("HTTP/1.1 413") and "larger than the limit of 1 MB" in answer
    assert sent < (40 << 20)  # it did not read the whole body first
    assert not any((folder / "data" / "jobs").iterdir())  # no job, no staging folder kept


# -- token rules --------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("token", ["short", " " * 20, "sixteen chars ok?", "x" * 15])
def test_a_weak_token_is_refused(tmp_path, token):
    result = emodub("serve", "--data-dir", tmp_path / "data", "--host", "0.0.0.0", "--token", token)
    assert result.returncode == 2 and "--token of" in result.stderr and "16 characters" in result.stderr
