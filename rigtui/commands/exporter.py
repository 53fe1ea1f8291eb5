"""``rigtui exporter``: the rig's readings as Prometheus metrics, until SIGINT or SIGTERM.

One sampling thread and the Ollama watch fill a board; the HTTP server renders the board for
each scrape and never reads the rig itself.
"""

from __future__ import annotations

import contextlib
import gc
import signal
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

from rigtui.config import Settings, SettingsError, listen_address
from rigtui.exporter.board import MetricsBoard
from rigtui.exporter.server import (
    DEFAULT_PORT,
    MetricsServer,
    ServeError,
    bind_board,
    tls_context,
    url_host,
)
from rigtui.exporter.service import SamplingService
from rigtui.sources import DemoOptions, open_rig


@dataclass(frozen=True)
class ExporterOptions:
    listen: str | None = None
    """``ADDRESS:PORT``; None: 127.0.0.1 and :data:`DEFAULT_PORT`."""
    tls_cert: Path | None = None
    tls_key: Path | None = None
    still: bool = False
    """With a demo: hold the simulated rig at its start (``--demo-still``)."""


def _error(words: str) -> None:
    print(f"rigtui exporter: error: {words}", file=sys.stderr, flush=True)


def run(settings: Settings, demo: DemoOptions | None, options: ExporterOptions) -> int:
    """Serve until SIGINT or SIGTERM; the exit code (2: bad input, 1: cannot serve)."""
    try:
        host, port = listen_address(options.listen or f"127.0.0.1:{DEFAULT_PORT}")
    except SettingsError as error:
        _error(str(error))
        return 2
    if options.still and demo is None:
        _error("--demo-still holds a simulated rig still: it needs --demo")
        return 2
    tls = None
    if options.tls_cert is not None and options.tls_key is not None:
        try:
            tls = tls_context(options.tls_cert, options.tls_key)
        except ServeError as error:
            _error(str(error))
            return 1
    board = MetricsBoard(watches_ollama=settings.ollama)
    try:
        server = bind_board(
            board, host, port, demo=demo.scenario if demo is not None else "", tls=tls
        )
    except ServeError as error:
        _error(str(error))
        return 1
    stop = threading.Event()
    previous = {signum: signal.signal(signum, lambda *_: stop.set()) for signum in STOP_SIGNALS}
    try:
        with contextlib.ExitStack() as running:
            with _stop_signals_to_this_thread():
                rig = running.enter_context(
                    open_rig(settings, demo, ollama=settings.ollama, still=options.still)
                )
                service = SamplingService(
                    rig.sampler,
                    board,
                    interval_s=settings.interval_s,
                    ollama_address=rig.ollama_address,
                )
                service.start()
                running.callback(service.stop)
                server.start()
            # What lives as long as the process (modules, the first reading) is left out of
            # garbage collection, as the dashboard does: full collections walked all of it.
            gc.collect()
            gc.freeze()
            _announce(server, demo, options)
            stop.wait()
    finally:
        server.stop()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return 0


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextlib.contextmanager
def _stop_signals_to_this_thread():
    """The threads started inside block SIGINT and SIGTERM (a thread keeps the signal mask of
    the thread that started it, and so do the threads they start), so the kernel hands those
    signals to this thread, whose wait they wake. Delivered to a scraping thread, a SIGTERM
    left this thread asleep in ``stop.wait()`` for good: 3 times in 12 under eight scrapers."""
    before = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, before)


def _announce(server: MetricsServer, demo: DemoOptions | None, options: ExporterOptions) -> None:
    """One line on stdout (scripts wait for it, and read the port from it when 0 was asked)."""
    if server.reachable_from_network:
        print(
            f"rigtui exporter: warning: listening on {url_host(server.host)}: the metrics can "
            "be read from the network (use a firewall, or --listen 127.0.0.1:PORT to keep them "
            "local)",
            file=sys.stderr,
            flush=True,
        )
    line = f"rigtui exporter: serving {server.url}"
    if demo is not None:
        line += f" (demo: {demo.scenario}{', still' if options.still else ''})"
    print(line, flush=True)
