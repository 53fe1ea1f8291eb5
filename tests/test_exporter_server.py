"""Serving the metrics: routes, methods, formats, TLS, the command line, the engines behind it.

Real sockets on 127.0.0.1 (port 0), the real simulated rig beneath pynvml, and ``rigtui
exporter`` itself as a subprocess; nothing waits on a timer.
"""

from __future__ import annotations

import http.client
import os
import selectors
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path

import pytest
from prometheus_client import generate_latest
from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as parse_openmetrics,
)
from prometheus_client.parser import text_string_to_metric_families

from rigtui.cli import main
from rigtui.exporter import names
from rigtui.exporter.board import MetricsBoard
from rigtui.exporter.collector import Exposition, registry_for, wants_openmetrics
from rigtui.exporter.server import MetricsServer, ServeError, is_loopback, tls_context
from rigtui.exporter.service import SamplingService
from rigtui.llm.ollama import parse_ollama_host
from tests.stepped_clock import SteppedClock

LONG_S = 30.0
"""A deadline far beyond what anything here needs: a hang becomes a failure."""
REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def served(dual):
    """The dual rig read once onto a board, served on a free port."""
    sampler = dual.sampler()
    sampler.open()
    board = MetricsBoard(watches_ollama=False)
    board.took(sampler.sample())
    exposition = Exposition(board, version="1.2.3")
    server = MetricsServer(exposition, "127.0.0.1", 0, version="1.2.3").start()
    yield server, board, dual
    server.stop()


def request(server: MetricsServer, method: str, path: str, headers=None, context=None):
    if context is not None:
        connection = http.client.HTTPSConnection(
            "127.0.0.1", server.port, timeout=LONG_S, context=context
        )
    else:
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=LONG_S)
    try:
        connection.request(method, path, headers=headers or {})
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def test_metrics_in_the_text_format_by_default(served):
    server, _, _ = served
    status, headers, body = request(server, "GET", "/metrics")
    assert status == 200
    assert headers["Content-Type"].startswith("text/plain; version=0.0.4")
    families = {family.name for family in text_string_to_metric_families(body.decode())}
    assert "rigtui_gpu_temperature_celsius" in families
    assert headers["Server"] == "rigtui/1.2.3"
    assert server.url == f"http://127.0.0.1:{server.port}/metrics"


def test_openmetrics_when_the_accept_header_asks(served):
    server, _, _ = served
    # What Prometheus 2.42 sends.
    accept = (
        "application/openmetrics-text;version=1.0.0,application/openmetrics-text;"
        "version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
    )
    status, headers, body = request(server, "GET", "/metrics", {"Accept": accept})
    assert status == 200
    assert headers["Content-Type"].startswith("application/openmetrics-text")
    assert body.endswith(b"# EOF\n")
    assert b"# TYPE rigtui_gpu_energy_joules counter" in body


@pytest.mark.parametrize("accept", ["", "application/openmetrics-text; version=1.0.0"])
def test_a_reading_is_rendered_once_and_only_its_age_anew(dual, accept):
    """Every scrape of one reading serves the same text but the sample's age, which moves
    with the board's clock; a new reading is rendered afresh."""
    now = [1000.0]
    board = MetricsBoard(watches_ollama=False, clock=lambda: now[0])
    sampler = dual.sampler()
    sampler.open()
    board.took(sampler.sample())
    exposition = Exposition(board)
    first, content_type = exposition.render(accept)
    now[0] += 2.5
    second, _ = exposition.render(accept)
    assert first != second
    differing = set(first.decode().splitlines()) ^ set(second.decode().splitlines())
    assert differing == {
        "rigtui_exporter_sample_age_seconds 0.0",
        "rigtui_exporter_sample_age_seconds 2.5",
    }
    if accept:
        assert content_type.startswith("application/openmetrics-text")
        assert second.endswith(b"\n# EOF\n") and second.count(b"# EOF") == 1
        assert list(parse_openmetrics(second.decode()))
    dual.clock.set(60)
    board.took(sampler.sample())
    third, _ = exposition.render(accept)
    assert third.count(b"rigtui_gpu_temperature_celsius{") == 2
    assert third != second and generate_latest(exposition.registry) != first


@pytest.mark.parametrize(
    ("accept", "openmetrics"),
    [
        ("", False),
        ("*/*", False),
        ("text/html,application/xhtml+xml,*/*;q=0.8", False),  # a browser
        ("application/openmetrics-text", True),
        # What Prometheus 3 sends: OpenMetrics at q=0.5 before the text formats.
        (
            "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.5,"
            "application/openmetrics-text;version=0.0.1;q=0.4,"
            "text/plain;version=1.0.0;escaping=allow-utf-8;q=0.3,"
            "text/plain;version=0.0.4;q=0.2,*/*;q=0.1",
            True,
        ),
        ("application/openmetrics-text;version=1.0.0;q=0", False),  # not acceptable
        ("text/plain;q=1,application/openmetrics-text;q=0.5", False),
        ("application/openmetrics-text; version=2.0.0", False),  # not served: not claimed
        ("application/openmetrics-text; version=1.0.0-rc.1", False),
        ("application/openmetrics-text;q=junk", True),
    ],
)
def test_the_format_is_the_one_the_accept_header_prefers(accept, openmetrics):
    assert wants_openmetrics(accept) is openmetrics


def test_made_up_versions_are_served_as_text_under_one_content_type(served):
    """prometheus_client's own negotiation echoed each made-up version into the content type
    (a cached text per version: memory without end) and raised on one it could not parse."""
    server, _, _ = served
    types = set()
    for version in ("1.0.1", "1.0.2", "1.0.0-rc.1", "abc", "1.x"):
        accept = f"application/openmetrics-text; version={version}"
        status, headers, body = request(server, "GET", "/metrics", {"Accept": accept})
        assert status == 200 and b"rigtui_exporter_info" in body
        types.add(headers["Content-Type"])
    assert types == {"text/plain; version=0.0.4; charset=utf-8"}


def read_all(connection: socket.socket) -> bytes:
    """What the server sends until it closes the connection (a hang fails at LONG_S). A close
    with bytes of ours left unread there comes as a reset, after what it sent."""
    connection.settimeout(LONG_S)
    received = b""
    try:
        while chunk := connection.recv(65536):
            received += chunk
    except ConnectionResetError:
        pass
    return received


def test_a_body_is_never_read_as_the_next_request(served):
    server, _, _ = served
    smuggled = b"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n"
    with socket.create_connection(("127.0.0.1", server.port), timeout=LONG_S) as connection:
        connection.sendall(
            b"POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(smuggled)
            + smuggled
        )
        answer = read_all(connection)
    # One answer, and the connection closed after it: the body never reached the parser.
    assert answer.count(b"HTTP/1.1 ") == 1 and answer.startswith(b"HTTP/1.1 405")
    assert b"Connection: close" in answer


def test_an_http_1_0_client_that_keeps_alive_is_told_so(served):
    server, _, _ = served
    with socket.create_connection(("127.0.0.1", server.port), timeout=LONG_S) as connection:
        connection.sendall(b"HEAD /metrics HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        head = b""
        while not head.endswith(b"\r\n\r\n"):
            head += connection.recv(1)
    assert b"Connection: keep-alive" in head


def test_a_request_trickled_past_its_deadline_is_dropped(dual):
    """Each read has its idle timeout; a client that sends a byte now and then kept its
    connection (one of 64) for as long as it liked. Past the request's deadline, it is shut."""
    board = MetricsBoard(watches_ollama=False)
    server = MetricsServer(Exposition(board), "127.0.0.1", 0, request_deadline_s=0.3).start()
    try:
        with socket.create_connection(("127.0.0.1", server.port)) as slow:
            slow.sendall(b"GET /metrics HTTP/1.1\r\n")
            trickled = 0
            with selectors.DefaultSelector() as selector:
                selector.register(slow, selectors.EVENT_READ)
                # A header byte whenever the server has said nothing for a moment, until it
                # closes: far sooner than the 200 bytes allowed here.
                while not selector.select(0.1):
                    assert trickled < 200, "the trickling client was never dropped"
                    try:
                        slow.sendall(b"X")
                    except (BrokenPipeError, ConnectionResetError):
                        break  # shut as the byte went
                    trickled += 1
            assert read_all(slow) == b""  # closed, unanswered
        assert request(server, "GET", "/metrics")[0] == 200  # and the others are served
    finally:
        server.stop()


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.0.0.2", True),
        ("::1", True),
        ("::ffff:127.0.0.1", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("::", False),
        ("192.168.1.20", False),
        ("gpubox", False),
    ],
)
def test_loopback_addresses_are_told_from_the_network(host, loopback):
    assert is_loopback(host) is loopback


def test_a_short_loopback_address_is_not_warned_about():
    """127.1 is 127.0.0.1: the warning about the network goes by the address as bound."""
    server = MetricsServer(Exposition(MetricsBoard()), "127.1", 0)
    try:
        assert not server.reachable_from_network
    finally:
        server.stop()


def test_head_answers_the_headers_without_a_body(served):
    server, _, _ = served
    status, headers, body = request(server, "HEAD", "/metrics")
    assert status == 200 and body == b""
    _, _, full = request(server, "GET", "/metrics")
    assert abs(int(headers["Content-Length"]) - len(full)) < 64  # the sample's age moved


def test_the_landing_page_links_the_metrics(served):
    server, _, _ = served
    status, headers, body = request(server, "GET", "/")
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert b'href="/metrics"' in body


@pytest.mark.parametrize("path", ["/metric", "/metrics/", "/favicon.ico", "/../etc/passwd"])
def test_any_other_path_is_404(served, path):
    status, _, body = request(served[0], "GET", path)
    assert status == 404 and b"/metrics" in body


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "OPTIONS"])
def test_any_other_method_is_405_with_allow(served, method):
    status, headers, _ = request(served[0], method, "/metrics")
    assert status == 405
    assert headers["Allow"] == "GET, HEAD"


def test_a_flood_of_scrapes_never_reads_the_rig(served):
    """Scrapes read the board only: the simulated NVML is not asked a thing by fifty of them,
    and a reading handed to the board is the next one served."""
    server, board, environment = served
    calls = dict(environment.nvml_library.calls)
    for _ in range(50):
        assert request(server, "GET", "/metrics")[0] == 200
    assert environment.nvml_library.calls == calls
    environment.clock.set(60)
    sampler = environment.sampler()
    sampler.open()
    newer = sampler.sample()
    board.took(newer)
    _, _, body = request(server, "GET", "/metrics")
    wanted = f'rigtui_gpu_temperature_celsius{{gpu="0",name="{newer.gpus[0].name}"'
    line = next(line for line in body.decode().splitlines() if line.startswith(wanted))
    assert float(line.rsplit(" ", 1)[1]) == newer.gpus[0].temperature_c


def test_a_taken_port_is_a_serve_error_in_words():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(ServeError, match="in use"):
            MetricsServer(Exposition(MetricsBoard()), "127.0.0.1", port)


@pytest.fixture(scope="module")
def certificate(tmp_path_factory) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-subj", "/CN=127.0.0.1", "-keyout", str(key), "-out", str(cert),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


def test_tls_serves_https_with_the_certificate(certificate):
    cert, key = certificate
    board = MetricsBoard(watches_ollama=False)
    server = MetricsServer(Exposition(board), "127.0.0.1", 0, tls=tls_context(cert, key))
    server.start()
    try:
        assert server.url.startswith("https://")
        client = ssl.create_default_context(cafile=str(cert))
        client.check_hostname = False
        status, _, body = request(server, "GET", "/metrics", context=client)
        assert status == 200 and b"rigtui_exporter_info" in body
        # Plain HTTP to the TLS port gets no metrics, and the server goes on serving.
        with pytest.raises((http.client.HTTPException, OSError)):
            request(server, "GET", "/metrics")
        assert request(server, "GET", "/metrics", context=client)[0] == 200
    finally:
        server.stop()


def test_a_key_that_is_not_the_certificates_is_said(certificate, tmp_path):
    cert, _ = certificate
    other = tmp_path / "other.pem"
    subprocess.run(
        ["openssl", "genrsa", "-out", str(other), "2048"], check=True, capture_output=True
    )
    with pytest.raises(ServeError, match="the key is not the certificate's"):
        tls_context(cert, other)
    # A key of another kind (EC for an RSA certificate): OpenSSL's words differ, ours do not.
    elliptic = tmp_path / "ec.pem"
    subprocess.run(
        ["openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", str(elliptic)],
        check=True,
        capture_output=True,
    )
    with pytest.raises(ServeError, match="the key is not the certificate's"):
        tls_context(cert, elliptic)
    with pytest.raises(ServeError, match="does not exist"):
        tls_context(tmp_path / "none.pem", other)


# --- the command line --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("listen", "words"),
    [
        ("nowhere", "has no port"),
        ("127.0.0.1:70000", "0-65535"),
        ("::1:9", "in brackets"),
    ],
)
def test_a_bad_listen_address_exits_2_with_words(capsys, listen, words):
    assert main(["exporter", "--demo", "--listen", listen]) == 2
    assert words in capsys.readouterr().err


def test_a_port_in_use_exits_1_with_words(capsys):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["exporter", "--demo", "--listen", f"127.0.0.1:{port}"]) == 1
    err = capsys.readouterr().err
    assert f"127.0.0.1:{port}" in err and "in use" in err


def test_still_without_a_demo_exits_2(capsys):
    assert main(["exporter", "--demo-still", "--listen", "127.0.0.1:0"]) == 2
    assert "needs --demo" in capsys.readouterr().err


def test_an_unusable_certificate_exits_1(capsys, tmp_path):
    bad = tmp_path / "bad.pem"
    bad.write_text("not a certificate\n")
    argv = ["exporter", "--demo", "--listen", "127.0.0.1:0"]
    assert main([*argv, "--tls-cert", str(bad), "--tls-key", str(bad)]) == 1
    assert "not a PEM file" in capsys.readouterr().err


def read_line(process: subprocess.Popen, deadline_s: float = LONG_S) -> str:
    """The process's next stdout line, or a failure after ``deadline_s`` (never a hang)."""
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        if not selector.select(deadline_s):
            process.kill()
            raise AssertionError(f"no line in {deadline_s} s: {process.stderr.read()}")
    return process.stdout.readline()


def blocked_signals(pid: int) -> dict[str, int]:
    """Each live thread's mask of blocked signals (``SigBlk`` in /proc), by thread id; a thread
    that ends while they are read (a scrape's) is left out."""
    masks = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            status = (task / "status").read_text()
        except (FileNotFoundError, ProcessLookupError):
            continue
        for line in status.splitlines():
            if line.startswith("SigBlk:"):
                masks[task.name] = int(line.split()[1], 16)
    return masks


def test_the_exporter_process_serves_and_ends_cleanly_on_sigterm():
    environ = {**os.environ, "PYTHONPATH": str(REPO)}
    process = subprocess.Popen(
        [sys.executable, "-m", "rigtui", "exporter", "--demo", "--scenario", "dual",
         "--demo-still", "--listen", "127.0.0.1:0", "--power-budget", "700"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=environ,
    )  # fmt: skip
    try:
        line = read_line(process)
        assert line.startswith("rigtui exporter: serving http://127.0.0.1:")
        assert "(demo: dual, still)" in line
        url = line.split()[3]
        host_port = url.removeprefix("http://").removesuffix("/metrics")
        connection = http.client.HTTPConnection(host_port, timeout=LONG_S)
        connection.request("GET", "/metrics")
        body = connection.getresponse().read().decode()
        connection.close()
        values = {
            (sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(body)
            for sample in family.samples
        }
        assert values[("rigtui_gpus", ())] == 2
        assert values[("rigtui_power_budget_watts", ())] == 700
        # Every thread but the main one blocks SIGINT and SIGTERM, so the kernel always hands
        # them to the main thread, asleep in its wait: delivered to a scraping thread, they
        # left it asleep for good.
        blocked = blocked_signals(process.pid)
        stop_signals = (1 << (signal.SIGINT - 1)) | (1 << (signal.SIGTERM - 1))
        assert len(blocked) >= 4  # sampling, serving, deadlines, the simulated Ollama
        assert blocked.pop(str(process.pid)) & stop_signals == 0
        assert all(mask & stop_signals == stop_signals for mask in blocked.values()), blocked
        process.send_signal(signal.SIGTERM)
        assert process.wait(LONG_S) == 0
        assert process.stdout.read() == ""  # exactly one line
    finally:
        if process.poll() is None:
            process.kill()
        process.stdout.close()
        process.stderr.close()


# --- the engines behind it ---------------------------------------------------------------------


def test_the_service_samples_on_its_clock_and_watches_ollama(dual):
    """Ten seconds of stepped time: a reading a second and the power rounds between, on the
    board; the Ollama watch told of it; both threads end on stop."""
    dual.clock.set(60)  # replies running: the ten-a-second power rounds are on
    stepped = SteppedClock(60, follow=dual.clock)
    board = MetricsBoard()
    address = parse_ollama_host(dual.start_ollama())
    try:
        service = SamplingService(
            dual.sampler(), board, interval_s=1.0, ollama_address=address, clock=stepped
        )
        stepped.stop_at(70, service.loop)
        first = service.start()
        assert first is not None and board.view().snapshot is not None
        deadline = time.monotonic() + LONG_S
        while not (board.view().ollama.up and board.view().ollama.installed):
            assert time.monotonic() < deadline, "the watch never reached the simulated Ollama"
            time.sleep(0.01)
        service.stop()
    finally:
        dual.stop_ollama()
    snapshot = board.view().snapshot
    assert snapshot.taken_at == pytest.approx(dual.rig.epoch_start + 70, abs=0.01)
    # Ten a second for ten seconds (each reading takes a round of its own).
    assert 95 <= snapshot.power.rounds - first.power.rounds <= 105
    assert board.view().sampling_failures == 0
    assert not service._sampling_thread.is_alive() and not service._ollama_thread.is_alive()
    samples = {
        sample.name: sample.value
        for family in text_string_to_metric_families(generate_latest(registry_for(board)).decode())
        for sample in family.samples
    }
    assert samples[names.OLLAMA_UP.name] == 1
