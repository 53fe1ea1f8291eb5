"""Serving the metrics over HTTP(S): ``/metrics``, a landing page, and nothing else.

Our own routing over the standard library's ``ThreadingHTTPServer`` (``prometheus_client``'s
``start_http_server`` answers every path with the metrics): GET and HEAD of ``/metrics`` in the
text format, or OpenMetrics when the ``Accept`` header asks for it; ``/`` links there; any other
path is 404 and any other method 405. A scrape renders the board's families and nothing more,
so a flood of scrapes costs CPU time but never delays a reading of the rig; connections at once
are bounded, and each has a time limit.
"""

from __future__ import annotations

import contextlib
import errno
import html
import importlib.metadata
import ipaddress
import socket
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from rigtui.config import SettingsError, listen_address
from rigtui.exporter.board import MetricsBoard
from rigtui.exporter.collector import Exposition

DEFAULT_PORT = 10430
"""rigtui's default port. Prometheus' "Default port allocations" list gave 9100-9999 to exporters
and that range is full (dcgm-exporter 9400 and nvidia_gpu_exporter 9835 among them); newer
exporters take ports above 10000, allocated upwards from 10000 (10061 was taken in late 2026).
10430 is clear of that run for a good while and of the other well-known ports up there (Webmin
10000, Zabbix 10050/10051, Amanda 10080, the Kubernetes components 10248-10259)."""
IDLE_POLL_S = 3600.0
"""The accepting thread sleeps until a connection comes: :meth:`MetricsServer.stop` wakes it
with one of its own (waking ten times a second to look was a fifth of the exporter's CPU above
its sampling thread's)."""
MAX_CONNECTIONS = 64
"""Connections served at once; more are closed at once (Prometheus keeps one per scraper).
Clients that hold this many connections keep scrapes out for REQUEST_DEADLINE_S at most: the
bound on threads is worth it on an exporter that listens on loopback unless told otherwise."""
CONNECTION_TIMEOUT_S = 5.0
"""A client that sends nothing (or reads nothing) for this long is dropped."""
REQUEST_DEADLINE_S = 10.0
"""A request not read and answered within this (from when the connection began to wait for
it, or its TLS handshake began) is dropped: the timeout above bounds each read, not a request
trickled a byte at a time, which held a connection's slot for as long as the client liked."""
METRICS_PATH = "/metrics"
ALLOWED = "GET, HEAD"


def installed_version() -> str:
    """rigtui's version as installed (the layers below ``cli`` do not import the package's
    ``__init__``, which holds it)."""
    try:
        return importlib.metadata.version("rigtui")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


class ServeError(Exception):
    """Why the metrics cannot be served, in words (a port in use, a bad certificate...)."""


def tls_context(cert: Path, key: Path) -> ssl.SSLContext:
    """A server context with the certificate chain and its key; ServeError in words."""
    for what, path in (("certificate", cert), ("key", key)):
        try:
            with open(path, "rb"):
                pass
        except FileNotFoundError:
            raise ServeError(f"TLS: the {what} file {path} does not exist") from None
        except IsADirectoryError:
            raise ServeError(f"TLS: the {what} {path} is a directory, not a file") from None
        except OSError as error:
            raise ServeError(f"TLS: cannot read the {what} file {path}: {error.strerror}") from None
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        # No passphrase: a key that has one fails here instead of asking on the terminal.
        context.load_cert_chain(certfile=str(cert), keyfile=str(key), password=lambda: b"")
    except ssl.SSLError as error:
        said = f"{error.reason} {error}"
        words = next((w for key_, w in TLS_ERROR_WORDS.items() if key_ in said), str(error))
        raise ServeError(
            f"TLS: cannot use the certificate {cert} with the key {key}: {words} "
            "(both must be PEM files, the key the certificate's own, without a passphrase)"
        ) from None
    except OSError as error:
        raise ServeError(f"TLS: cannot use the certificate or key: {error}") from None
    return context


TLS_ERROR_WORDS = {
    "PEM lib": "one of them is not a PEM file, or the key needs a passphrase",
    "KEY_VALUES_MISMATCH": "the key is not the certificate's",
    # An EC certificate with an RSA key (or the other way round): OpenSSL files the key apart.
    "NO_CERTIFICATE_ASSIGNED": "the key is not the certificate's (not even of its kind)",
    "NO_START_LINE": "one of them is not a PEM file",
    "CA_MD_TOO_WEAK": "the certificate's signature is too weak",
    "EE_KEY_TOO_SMALL": "the key is too small",
}


def is_loopback(host: str) -> bool:
    """Whether an address (as bound: numeric) is this machine's loopback only, IPv4-mapped
    ``::ffff:127.0.0.1`` included."""
    if host == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False  # a host name: it may be any interface
    mapped = getattr(address, "ipv4_mapped", None)
    return address.is_loopback or (mapped is not None and mapped.is_loopback)


def url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


class _Handler(BaseHTTPRequestHandler):
    server: _MetricsHTTPServer
    sys_version = ""
    timeout = CONNECTION_TIMEOUT_S
    protocol_version = "HTTP/1.1"
    # The headers and the body go out in two writes: with Nagle's algorithm the body waits for
    # the client's delayed ACK of the headers, 40 ms a scrape on a kept-alive connection.
    disable_nagle_algorithm = True

    def version_string(self) -> str:
        return f"rigtui/{self.server.version}"  # not the Python version

    def handle_one_request(self) -> None:
        deadlines = self.server.deadlines
        deadlines.watch(self.connection)
        try:
            super().handle_one_request()
        finally:
            deadlines.done(self.connection)

    def do_GET(self) -> None:
        self._answer(with_body=True)

    def do_HEAD(self) -> None:
        self._answer(with_body=False)

    def __getattr__(self, name: str):
        # Every other method (POST, PUT, DELETE, OPTIONS...): 405, not the library's 501.
        if name.startswith("do_"):
            return self._not_allowed
        raise AttributeError(name)

    def _not_allowed(self) -> None:
        self._send(
            405,
            b"Method not allowed: this is a read-only exporter.\n",
            "text/plain",
            extra={"Allow": ALLOWED},
        )

    def _answer(self, *, with_body: bool) -> None:
        path = self.path.split("?", 1)[0]
        if path == METRICS_PATH:
            try:
                body, content_type = self.server.exposition.render(self.headers.get("Accept", ""))
            except Exception as error:  # noqa: BLE001 - a scrape error is the scraper's to see
                self._send(
                    500,
                    f"rigtui could not render the metrics: {error}\n".encode(),
                    "text/plain",
                    with_body=with_body,
                )
                return
            self._send(200, body, content_type, with_body=with_body)
        elif path == "/":
            page = landing_page(self.server.version)
            self._send(200, page, "text/html; charset=utf-8", with_body=with_body)
        else:
            self._send(
                404, b"Not found: the metrics are at /metrics.\n", "text/plain", with_body=with_body
            )

    def _send(
        self,
        status: int,
        body: bytes,
        content_type: str,
        *,
        with_body: bool = True,
        extra: dict[str, str] | None = None,
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for header, value in (extra or {}).items():
            self.send_header(header, value)
        if self._carries_body():
            # Its body is never read: left on the connection it would be read as the next
            # request (a request smuggled through a proxy that reuses connections).
            self.close_connection = True
        if self.close_connection:
            self.send_header("Connection", "close")
        elif self.request_version == "HTTP/1.0":
            self.send_header("Connection", "keep-alive")  # a 1.0 client waits for a close else
        self.end_headers()
        if with_body:
            self.wfile.write(body)

    def _carries_body(self) -> bool:
        length = self.headers.get("Content-Length", "0").strip()
        return "Transfer-Encoding" in self.headers or length not in ("", "0")

    def log_message(self, format: str, *args) -> None:
        pass  # a line per scrape would fill the journal


class _Deadlines:
    """Shuts the connections whose request outlives :data:`REQUEST_DEADLINE_S`, from one thread
    that sleeps while no request is under way (or until the soonest is due)."""

    def __init__(self, seconds: float = REQUEST_DEADLINE_S) -> None:
        self.seconds = seconds
        self._due: dict[socket.socket, float] = {}
        self._changed = threading.Condition()
        self._closed = False
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="rigtui-metrics-deadlines")
        self._thread.daemon = True
        self._thread.start()

    def watch(self, connection: socket.socket) -> None:
        with self._changed:
            was_idle = not self._due
            self._due[connection] = time.monotonic() + self.seconds
            if was_idle:  # later deadlines than the soonest need not wake the thread
                self._changed.notify()

    def done(self, connection: socket.socket) -> None:
        with self._changed:
            self._due.pop(connection, None)

    def close(self) -> None:
        with self._changed:
            self._closed = True
            self._changed.notify()
        if self._thread is not None:
            self._thread.join()

    def _run(self) -> None:
        with self._changed:
            while not self._closed:
                if not self._due:
                    self._changed.wait()
                    continue
                connection, due = min(self._due.items(), key=lambda item: item[1])
                left = due - time.monotonic()
                if left > 0:
                    self._changed.wait(left)
                    continue
                del self._due[connection]
                # Its thread, blocked reading, sees the end of the stream and finishes.
                with contextlib.suppress(OSError):
                    connection.shutdown(socket.SHUT_RDWR)


def landing_page(version: str) -> bytes:
    return (
        "<!doctype html><html><head><title>rigtui exporter</title></head><body>"
        f"<h1>rigtui exporter {html.escape(version)}</h1>"
        f'<p><a href="{METRICS_PATH}">Metrics</a></p></body></html>\n'
    ).encode()


class _MetricsHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(
        self,
        address,
        exposition: Exposition,
        tls: ssl.SSLContext | None,
        version: str,
        request_deadline_s: float,
    ):
        self.exposition = exposition
        self.version = version
        self.tls = tls
        self._slots = threading.BoundedSemaphore(MAX_CONNECTIONS)
        self.deadlines = _Deadlines(request_deadline_s)
        super().__init__(address, _Handler)

    def process_request(self, request, client_address) -> None:
        if not self._slots.acquire(blocking=False):
            self.shutdown_request(request)  # too many at once: drop, never queue
            return
        try:
            super().process_request(request, client_address)
        except Exception:
            self._slots.release()
            raise

    def process_request_thread(self, request, client_address) -> None:
        try:
            if self.tls is not None:
                # The handshake on the connection's own thread: a slow client never holds up
                # the others waiting to be accepted.
                request.settimeout(CONNECTION_TIMEOUT_S)
                plain = request
                self.deadlines.watch(plain)
                try:
                    request = self.tls.wrap_socket(plain, server_side=True)
                except (OSError, ssl.SSLError):
                    self.shutdown_request(plain)
                    return
                finally:
                    self.deadlines.done(plain)
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    def handle_error(self, request, client_address) -> None:
        pass  # a client that went away mid-answer is not the exporter's problem


class MetricsServer:
    """Binds at once (:class:`ServeError` in words if it cannot), serves on its own thread from
    :meth:`start` until :meth:`stop`."""

    def __init__(
        self,
        exposition: Exposition,
        host: str,
        port: int,
        *,
        tls: ssl.SSLContext | None = None,
        version: str = "",
        flag: str = "--listen",
        request_deadline_s: float = REQUEST_DEADLINE_S,
    ) -> None:
        """``flag``: the option that named the address, for the error's advice."""
        self.tls = tls
        server_class = _MetricsHTTPServer
        if ":" in host:
            server_class = type("_MetricsHTTPServer6", (_MetricsHTTPServer,), {})
            server_class.address_family = socket.AF_INET6
        try:
            self._server = server_class((host, port), exposition, tls, version, request_deadline_s)
        except socket.gaierror as error:
            raise ServeError(f"cannot listen on {host!r}: {error.strerror}") from None
        except OSError as error:
            raise ServeError(_bind_words(host, port, error, flag)) from None
        self.host = host
        self.port = self._server.server_address[1]
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        scheme = "https" if self.tls is not None else "http"
        return f"{scheme}://{url_host(self.host)}:{self.port}{METRICS_PATH}"

    @property
    def reachable_from_network(self) -> bool:
        # The address as bound (127.1 and localhost are 127.0.0.1 by then).
        return not is_loopback(str(self._server.server_address[0]))

    def start(self) -> MetricsServer:
        self._server.deadlines.start()
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": IDLE_POLL_S},
            name="rigtui-metrics",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            stopping = threading.Thread(target=self._server.shutdown, daemon=True)
            stopping.start()
            # The accepting thread notices the shutdown when its wait ends: a connection ends it.
            while stopping.is_alive():
                self._knock()
                stopping.join(0.05)
            self._thread.join()
            self._thread = None
            self._server.deadlines.close()
        self._server.server_close()

    def _knock(self) -> None:
        host = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}.get(self.host, self.host)
        with contextlib.suppress(OSError):  # it may have stopped already
            # Briefly: with the backlog full (a flood of scrapes) the accepting thread is awake
            # anyway, and a connect that waits for room held the exit up by a second.
            socket.create_connection((host, self.port), timeout=0.1).close()


def _bind_words(host: str, port: int, error: OSError, flag: str) -> str:
    where = f"{url_host(host)}:{port}"
    if error.errno == errno.EADDRINUSE:
        return (
            f"cannot listen on {where}: the port is in use (another exporter, or rigtui "
            f"already running?); choose another with {flag} ADDRESS:PORT"
        )
    if error.errno == errno.EACCES:
        return f"cannot listen on {where}: no permission (ports below 1024 need privileges)"
    if error.errno == errno.EADDRNOTAVAIL:
        return f"cannot listen on {where}: {host} is not an address of this machine"
    return f"cannot listen on {where}: {error.strerror or error}"


def serve_board(
    board: MetricsBoard,
    listen: str,
    *,
    demo: str = "",
    tls: ssl.SSLContext | None = None,
    flag: str = "--listen",
) -> MetricsServer:
    """The board served at ``listen`` (``ADDRESS:PORT``), started; ServeError in words (a bad
    address included, named as ``flag``)."""
    try:
        host, port = listen_address(listen, flag)
    except SettingsError as error:
        raise ServeError(str(error)) from None
    return bind_board(board, host, port, demo=demo, tls=tls, flag=flag).start()


def bind_board(
    board: MetricsBoard,
    host: str,
    port: int,
    *,
    demo: str = "",
    tls: ssl.SSLContext | None = None,
    flag: str = "--listen",
) -> MetricsServer:
    """The board's exposition on a server bound at ``host``:``port``, not started yet (the
    exporter starts it once the first reading is on the board); ServeError in words."""
    version = installed_version()
    exposition = Exposition(board, version=version, demo=demo)
    return MetricsServer(exposition, host, port, tls=tls, version=version, flag=flag)
