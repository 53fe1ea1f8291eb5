"""HTTP servers of the fleet tests' own, on free loopback ports.

:class:`TinyServer` answers each path as a test tells it, or replays answers recorded from a real
Prometheus (``tests/data/fleet-recorded.json``) by path and query. It stands for what can sit at
a wrong URL or between rigtui and Prometheus (a web page, an exporter, a proxy, a stuck server)
and, when replaying, for the Prometheus those answers came from.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

DATA = Path(__file__).parent / "data"
RECORDED = DATA / "fleet-recorded.json"


def answer_key(path: str, query: str) -> str:
    """How a recorded answer is found: the API path and the PromQL asked (times left out, so
    the replay does not depend on when it runs)."""
    expr = parse_qs(query).get("query", [""])[0]
    return f"{path} {expr}".rstrip()


def closed_port() -> int:
    """A loopback port nothing listens on (it was free a moment ago)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def load_recorded() -> dict:
    return json.loads(RECORDED.read_text())


@dataclass
class Answer:
    status: int = 200
    content_type: str = "application/json"
    body: bytes = b""
    hold: bool = False
    """Send nothing until the test ends (a server that accepted and hangs)."""
    location: str | None = None
    """Sent as the Location header (with a 3xx status: a redirect)."""

    @classmethod
    def of(cls, answer: object, status: int = 200) -> Answer:
        return cls(status, body=json.dumps(answer).encode())


@dataclass
class TinyServer:
    port: int = 0
    answers: dict[str, Answer] = field(default_factory=dict)
    """By path, or by :func:`answer_key` (which wins)."""
    asked: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    """Each request's path with its query, and its headers."""
    release: threading.Event = field(default_factory=threading.Event)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def replay(self, recorded: dict) -> None:
        """Answer as the recorded Prometheus did."""
        for key, body in recorded["answers"].items():
            self.answers[key] = Answer.of(body)


class _Server(ThreadingHTTPServer):
    request_queue_size = 64
    """A history's eight requests at once overflow the default backlog of 5: a SYN retried
    a second later."""


@contextmanager
def tiny_server() -> Iterator[TinyServer]:
    state = TinyServer()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            split = urlsplit(self.path)
            state.asked.append((self.path, dict(self.headers.items())))
            answer = state.answers.get(answer_key(split.path, split.query)) or state.answers.get(
                split.path, Answer(404, "text/plain", b"404 page not found\n")
            )
            if answer.hold:
                state.release.wait(30)
                return
            self.send_response(answer.status)
            self.send_header("Content-Type", answer.content_type)
            if answer.location is not None:
                self.send_header("Location", answer.location)
            self.send_header("Content-Length", str(len(answer.body)))
            self.end_headers()
            self.wfile.write(answer.body)

        def log_message(self, *args: object) -> None:
            pass

    server = _Server(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield state
    finally:
        state.release.set()
        server.shutdown()
        server.server_close()
