"""The studio's front door: only its own address, only its own page may change things, bodies bounded while they stream.

Loopback is not a boundary against the user's own browser: a page on another website can send
requests to 127.0.0.1 (cross-site requests), and a name it controls can be re-pointed at
127.0.0.1 (DNS rebinding), so that its script reads the answers.  This ASGI middleware

- refuses a request whose ``Host`` is not a name the studio serves (loopback names, the bound
  address, names given with ``--allow-host`` for a reverse proxy): 403;
- refuses a state-changing request (POST, PUT, PATCH, DELETE) that a browser says came from
  another site: an ``Origin`` other than the request's own host, or ``Sec-Fetch-Site`` other
  than ``same-origin``/``none``.  Clients that are not browsers (curl, scripts) send neither and
  are let through; they meet the token when one is set;
- stops reading a request body at the upload limit, chunked or not (:class:`BodyTooLarge`,
  answered 413 by the endpoint that reads it; what the form parser spooled is deleted);
- adds security headers to every response: a Content-Security-Policy that runs only the
  studio's own scripts, ``X-Frame-Options: DENY``, ``nosniff``, ``Referrer-Policy: no-referrer``.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterable
from typing import Any
from urllib.parse import urlsplit

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "::1"})
WILDCARD_BINDS = frozenset({"0.0.0.0", "::", ""})
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
SAME_SITE = frozenset({"same-origin", "none"})
PAGE_POLICY = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
               "media-src 'self' blob:; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
               "frame-ancestors 'none'")
DOCS_POLICY = PAGE_POLICY.replace("script-src 'self'", "script-src 'self' 'unsafe-inline'")  # Swagger UI starts from an inline script
SECURITY_HEADERS = [(b"x-frame-options", b"DENY"), (b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"no-referrer"),
                    (b"cross-origin-opener-policy", b"same-origin")]


class BodyTooLarge(Exception):
    """A request body went past the studio's upload limit while it was being read."""

    def __init__(self, limit_mb: int) -> None:
        super().__init__(f"upload is larger than the limit of {limit_mb} MB (--max-upload-mb)")
        self.limit_mb = limit_mb


def host_name(host_header: str) -> str:
    """The name in a ``Host`` or ``Origin`` netloc, lower-cased, without port or IPv6 brackets."""
    host = host_header.strip().lower()
    if host.startswith("["):
        return host[1:host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def served_names(bind_host: str, extra: Iterable[str] = ()) -> frozenset[str] | None:
    """The Host names to accept, or None for any (a wildcard bind, which the CLI allows only with a token)."""
    if bind_host.strip().lower() in WILDCARD_BINDS:
        return None
    return LOOPBACK_NAMES | {host_name(bind_host)} | {host_name(name) for name in extra}


class Guard:
    """ASGI middleware; see the module docstring.  ``names``: :func:`served_names`; ``upload_limit_mb``: the largest upload
    (a body may hold 1 MB of form framing beyond it); ``proxy_names``: the ``--allow-host`` names, whose pages may change
    things though the proxy sends another Host."""

    def __init__(self, app: ASGIApp, *, names: frozenset[str] | None, upload_limit_mb: int, proxy_names: Iterable[str] = ()) -> None:
        self.app, self.names, self.upload_limit_mb = app, names, upload_limit_mb
        self.max_body_bytes = (upload_limit_mb + 1) << 20
        self.proxy_names = frozenset(host_name(name) for name in proxy_names)  # a page served through a proxy under these names

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in scope.get("headers", [])}
        refusal = self.refusal(scope["method"], headers)
        if refusal is not None:
            await _answer(send, 403, refusal)
            return
        policy = (DOCS_POLICY if scope.get("path") == "/docs" else PAGE_POLICY).encode()

        async def secured(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), (b"content-security-policy", policy), *SECURITY_HEADERS]}
            await send(message)

        read = 0

        async def bounded() -> Message:
            nonlocal read
            message = await receive()
            if message["type"] == "http.request":
                read += len(message.get("body", b""))
                if read > self.max_body_bytes:
                    raise BodyTooLarge(self.upload_limit_mb)
            return message

        await self.app(scope, bounded, secured)

    def refusal(self, method: str, headers: dict[str, str]) -> str | None:
        """Why the request is refused (one line), or None."""
        host = host_name(headers.get("host", ""))
        if self.names is not None and host not in self.names:
            return (f"host {host!r} is not this studio's address (it answers to {', '.join(sorted(self.names))}); "
                    "start it with --allow-host NAME to serve another name, e.g. behind a reverse proxy")
        if method in SAFE_METHODS:
            return None
        origin = headers.get("origin")
        if origin is not None:
            parts = urlsplit(origin)
            own = parts.netloc.lower() == headers.get("host", "").strip().lower() or host_name(parts.netloc) in self.proxy_names
            if origin == "null" or not own:
                return f"a request from another website ({origin}) may not change anything here; use the studio's own page"
        site = headers.get("sec-fetch-site")
        if site is not None and site not in SAME_SITE:
            return f"a {site} request may not change anything here; use the studio's own page"
        return None


async def _answer(send: Send, status: int, line: str) -> None:
    body = json.dumps({"error": line}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), *SECURITY_HEADERS]})
    await send({"type": "http.response.body", "body": body})


__all__ = ["BodyTooLarge", "Guard", "host_name", "served_names"]
