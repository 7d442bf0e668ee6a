"""The live page: FastAPI serving the page, its scripts and a WebSocket of updates.

Routes:

- ``/`` the team page (every wearable as a card), ``/w/<code>`` one wearable large;
  both are ``static/index.html``, whose script reads the address.
- ``/static/...`` the page's script and style and the vendored uPlot
  (``static/vendor/``, see its README).
- ``/ws`` a WebSocket: :meth:`Hub.snapshot` at once, then :meth:`Hub.changes_since`
  whenever something changed, at most every :data:`UPDATE_INTERVAL_S`.
- ``/api/snapshot`` and ``/api/stats``: the same JSON over HTTP, for scripts and tests.

Access: with a ``token`` every request must carry it, as ``?token=`` (the address the
command prints) or the cookie that the first such request sets; anything else gets
401 (a WebSocket is closed with 1008, policy violation). :func:`needs_token` says
when: whenever the page listens on anything but loopback.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import secrets
import socket
import threading
import time
from collections.abc import Collection
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import FileResponse, JSONResponse, PlainTextResponse, Response
from fastapi.staticfiles import StaticFiles

from host.live.view import Hub

__all__ = ["STATIC_DIR", "UPDATE_INTERVAL_S", "LiveServer", "make_app", "needs_token"]

#: The page's files.
STATIC_DIR = Path(__file__).with_name("static")
#: Shortest time between two updates to one page, s (assumption: ten a second is more than
#: a 10 Hz signal and a 1 Hz level need, and bounds the page's work with many wearables).
UPDATE_INTERVAL_S = 0.1
#: Longest wait for a change before a page is sent an empty keep-alive, s.
KEEPALIVE_S = 5.0
#: Longest wait, when the server stops, for the pages to be sent their last changes, s.
FLUSH_TIMEOUT_S = 5.0
_COOKIE = "nirs_live_token"


def needs_token(host: str) -> bool:
    """True unless ``host`` is a loopback address or "localhost" (then only this
    computer can reach the page)."""
    if host == "localhost":
        return False
    try:
        return not ipaddress.ip_address(host).is_loopback
    except ValueError:  # a name: it may resolve to anything
        return True


def _json(message: dict[str, Any]) -> str:
    return json.dumps(message, separators=(",", ":"), allow_nan=False)


def _same_origin(origin: str | None, host: str | None) -> bool:
    """True if a browser's ``Origin`` is the page's own (``host``), or there is none (a
    program, not a page of another site)."""
    if origin is None:
        return True
    return host is not None and origin.split("://", 1)[-1].lower() == host.lower()


def make_app(
    hub: Hub,
    *,
    token: str | None = None,
    title: str = "NIRS live",
    hosts: Collection[str] | None = None,
) -> FastAPI:
    """The page's application over ``hub``.

    Args:
        token: Every request needs it (``?token=`` or the cookie it sets).
        hosts: The ``Host`` headers taken (e.g. "127.0.0.1:8050"); None: any. A page
            on loopback names its own, so that a web site whose name is made to resolve
            to 127.0.0.1 (DNS rebinding) cannot read it.

    A WebSocket whose ``Origin`` is another site's is refused in any case: the page's
    data is not for other sites' scripts, which a browser lets connect anywhere.
    """
    app = FastAPI(title=title, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.hub = hub
    app.state.wake = []  # one asyncio.Event per open page
    app.state.closing = False  # set (and the pages woken) when the server stops

    def authorised(query: str | None, cookie: str | None) -> bool:
        if token is None:
            return True
        want = token.encode()
        return any(
            v is not None and secrets.compare_digest(v.encode("utf-8", "replace"), want)
            for v in (query, cookie)
        )

    @app.middleware("http")
    async def check_token(request: Request, call_next):
        if hosts is not None and request.headers.get("host", "").lower() not in hosts:
            return PlainTextResponse(
                "403: this page answers to its own address only\n", status_code=403
            )
        query = request.query_params.get("token")
        if not authorised(query, request.cookies.get(_COOKIE)):
            return PlainTextResponse(
                "401: this page needs its token: open the address the command that serves "
                "it printed (it ends in ?token=...)\n",
                status_code=401,
            )
        response: Response = await call_next(request)
        if token is not None and query is not None:
            response.set_cookie(_COOKIE, token, httponly=True, samesite="strict")
        return response

    page = STATIC_DIR / "index.html"

    @app.get("/", include_in_schema=False)
    async def team() -> FileResponse:
        return FileResponse(page)

    @app.get("/w/{wearable}", include_in_schema=False)
    async def one(wearable: str) -> FileResponse:
        return FileResponse(page)

    @app.get("/api/snapshot")
    async def snapshot() -> Response:
        message, _ = hub.snapshot()
        return Response(_json(message), media_type="application/json")

    @app.get("/api/stats")
    async def stats() -> JSONResponse:
        return JSONResponse(hub.stats())

    @app.websocket("/ws")
    async def updates(ws: WebSocket) -> None:
        host = ws.headers.get("host")
        if (
            not authorised(ws.query_params.get("token"), ws.cookies.get(_COOKIE))
            or not _same_origin(ws.headers.get("origin"), host)
            or (hosts is not None and (host or "").lower() not in hosts)
        ):
            await ws.close(code=1008)
            return
        await ws.accept()
        wake = asyncio.Event()
        app.state.wake.append(wake)
        try:
            message, cursor = hub.snapshot()
            await ws.send_text(_json(message))
            while True:
                try:
                    await asyncio.wait_for(wake.wait(), KEEPALIVE_S)
                except asyncio.TimeoutError:
                    await ws.send_text(_json({"type": "keepalive"}))
                    continue
                wake.clear()
                message, cursor = hub.changes_since(cursor)
                if message is not None:
                    await ws.send_text(_json(message))
                if app.state.closing:  # stop() woke us: the last changes are sent
                    break
                await asyncio.sleep(UPDATE_INTERVAL_S)
        except WebSocketDisconnect:
            pass
        finally:
            app.state.wake.remove(wake)

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    return app


class LiveServer:
    """The page served by uvicorn in a thread of its own (context manager).

    Args:
        hub: What the page shows; its ``on_change`` is taken over to wake the pages.
        host: Address to listen on (default loopback).
        port: Port (0: any free one; :attr:`url` tells which).
        token: Required by every request when given (see :func:`needs_token`).

    Raises:
        OSError: The address cannot be listened on (in use, not this computer's);
            the message names it.
    """

    def __init__(
        self, hub: Hub, host: str = "127.0.0.1", port: int = 8050, token: str | None = None
    ) -> None:
        self.hub = hub
        self.host = host
        self.token = token
        self._hosts: set[str] = set()  # filled with the port in start() on loopback
        self.app = make_app(hub, token=token, hosts=None if needs_token(host) else self._hosts)
        config = uvicorn.Config(
            self.app,
            host=host,
            port=port,
            log_level="warning",
            lifespan="off",
            ws="websockets-sansio",
        )
        self._server = uvicorn.Server(config)
        self._socket: socket.socket | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = threading.Thread(target=self._run, name="live-page", daemon=True)
        self._error: BaseException | None = None
        self.port = port

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._server.serve(sockets=[self._socket]))
        except BaseException as exc:  # reported by start()
            self._error = exc
        finally:
            loop.close()

    def _wake_all(self) -> None:
        for event in list(self.app.state.wake):
            event.set()

    def _on_change(self) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed in between
                loop.call_soon_threadsafe(self._wake_all)

    def start(self, timeout_s: float = 20.0) -> LiveServer:
        """Start serving; returns when the port is open.

        Raises:
            OSError: The address cannot be listened on; names it and why.
        """
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, self.port))
            sock.listen(64)
        except OSError as exc:
            sock.close()
            raise OSError(
                f"the live page cannot listen on {self.host}:{self.port}: {exc.strerror} "
                "(choose another --page-port or --page-host)"
            ) from None
        self._socket = sock
        self.port = sock.getsockname()[1]
        if not needs_token(self.host):  # loopback: the names this computer calls itself
            names = ("127.0.0.1", "localhost", "[::1]", self.host)
            self._hosts.update(f"{n}:{self.port}".lower() for n in names)
            if self.port == 80:  # a browser leaves the default port out of Host
                self._hosts.update(n.lower() for n in names)
        self.hub.on_change = self._on_change
        self._thread.start()
        waited = 0.0
        while not self._server.started:
            if not self._thread.is_alive() or waited > timeout_s:
                raise OSError(
                    f"the live page did not start on {self.host}:{self.port}: "
                    f"{self._error or 'no answer in time'}"
                )
            self._thread.join(0.05)
            waited += 0.05
        return self

    @property
    def url(self) -> str:
        """The page's address (with ``?token=`` when one is needed)."""
        host = self.host
        if host in ("0.0.0.0", "::"):  # every address of this computer: its name reaches it
            host = socket.gethostname()
        host = f"[{host}]" if ":" in host else host
        query = f"?token={self.token}" if self.token else ""
        return f"http://{host}:{self.port}/{query}"

    def stop(self) -> None:
        """Stop serving: each page is sent what it has not seen yet, then its connection
        closes (waiting at most :data:`FLUSH_TIMEOUT_S` for that)."""
        self.app.state.closing = True
        self._on_change()  # wake the pages' senders, which send the rest and end
        deadline = time.monotonic() + FLUSH_TIMEOUT_S
        while self.app.state.wake and time.monotonic() < deadline and self._thread.is_alive():
            time.sleep(0.01)
        self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(10)
        self.hub.on_change = None

    def __enter__(self) -> LiveServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
