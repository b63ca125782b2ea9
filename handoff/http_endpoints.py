"""Plain HTTP endpoints that need more than websockets' GET-only handshake
reading gives: a method other than GET, and a request body.

Why: the bridge serves HTTP and both WebSockets on one port with websockets'
asyncio server, whose request reader refuses anything but GET and never reads
a body (handoff/server.py). ``EndpointProtocol`` reads the request line
itself: for a path in its ``endpoints`` it reads the body (``Content-Length``
only, at most the endpoint's ``max_body_bytes``, within ``BODY_TIMEOUT_S``)
and lets the endpoint answer; every other request goes on exactly as
websockets' own reader would take it (GET only, HTTP/1.1).

Limits: no chunked bodies (the endpoint sees ``declared_length`` None and
answers 411), no keep-alive (websockets closes after an HTTP answer), and the
body is read before the endpoint runs, so an endpoint's checks that need no
body (a missing secret, a size) are made on ``declared_length``.
"""
from __future__ import annotations

import asyncio
import functools
import http
import json
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Optional, Protocol, Tuple
from urllib.parse import urlsplit

from websockets.datastructures import Headers
from websockets.exceptions import InvalidMessage
from websockets.legacy.http import read_headers, read_line
from websockets.legacy.server import HTTPResponse, WebSocketServerProtocol

BODY_TIMEOUT_S = 10.0  # a client that announces a body and does not send it


@dataclass(frozen=True)
class Request:
    method: str
    path: str                       # with its query string
    headers: Headers
    body: Optional[bytes]           # None: not read (none announced, or over the endpoint's limit)
    declared_length: Optional[int]  # Content-Length; None when missing, invalid or chunked


class Endpoint(Protocol):
    """One path's HTTP answer (the endpoint refuses methods it does not take)."""

    max_body_bytes: int

    async def answer(self, request: Request) -> HTTPResponse:
        ...


def endpoint_protocol(endpoints: Mapping[str, Endpoint]) -> Callable[..., WebSocketServerProtocol]:
    """``create_protocol=`` for ``websockets.serve``: these paths (no query)
    answered by their endpoints, everything else by the server as before."""
    return functools.partial(EndpointProtocol, endpoints=endpoints)


class EndpointProtocol(WebSocketServerProtocol):
    """websockets' server protocol with ``endpoints`` answered before the handshake."""

    def __init__(self, *args: Any, endpoints: Mapping[str, Endpoint], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.endpoints = endpoints
        self._endpoint_request: Optional[Tuple[Endpoint, Request]] = None

    async def read_http_request(self) -> Tuple[str, Headers]:
        try:
            line = await read_line(self.reader)
            method, raw_path, version = line.split(b" ", 2)
            if version != b"HTTP/1.1":
                raise ValueError(f"unsupported HTTP version: {version!r}")
            path = raw_path.decode("ascii", "surrogateescape")
            headers = await read_headers(self.reader)
        except asyncio.CancelledError:  # pragma: no cover
            raise
        except Exception as exc:  # as websockets' own reader: any malformed request
            raise InvalidMessage("did not receive a valid HTTP request") from exc
        endpoint = self.endpoints.get(urlsplit(path).path)
        if endpoint is None and method != b"GET":
            raise InvalidMessage(f"unsupported HTTP method: {method.decode('ascii', 'replace')}")
        if endpoint is not None:
            length = _content_length(headers)
            body = None
            if length is not None and length <= endpoint.max_body_bytes and method != b"GET":
                try:
                    body = await asyncio.wait_for(self.reader.readexactly(length), BODY_TIMEOUT_S)
                except (asyncio.TimeoutError, asyncio.IncompleteReadError) as exc:
                    raise InvalidMessage("the request body did not arrive") from exc
            self._endpoint_request = (endpoint, Request(method.decode("ascii", "replace"), path, headers, body, length))
        self.path = path
        self.request_headers = headers
        return path, headers

    async def process_request(self, path: str, request_headers: Headers) -> Optional[HTTPResponse]:
        if self._endpoint_request is not None:
            endpoint, request = self._endpoint_request
            return await endpoint.answer(request)
        return await super().process_request(path, request_headers)


def single(headers: Headers, name: str) -> str:
    """The header's value, stripped; "" when it is missing or sent twice."""
    values = headers.get_all(name)
    return values[0].strip() if len(values) == 1 else ""


def json_response(status: http.HTTPStatus, body: Any, extra: Tuple[Tuple[str, str], ...] = ()) -> HTTPResponse:
    return (status, [("Content-Type", "application/json; charset=utf-8"), ("Cache-Control", "no-store"), *extra],
            json.dumps(body, ensure_ascii=False).encode("utf-8"))


def _content_length(headers: Headers) -> Optional[int]:
    if headers.get_all("Transfer-Encoding"):
        return None
    raw = single(headers, "Content-Length")
    return int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 12 else None
