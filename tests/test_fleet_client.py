"""The Prometheus client's failures, each a FleetError in words, against servers that go wrong.

The servers here are the test's own (a closed port, a tiny HTTP server answering what the test
tells it): they stand for what sits at a wrong URL or between rigtui and Prometheus (a web
page, an exporter, a proxy, a stuck server), not for Prometheus itself, whose real answers are
recorded in tests/data and read in test_fleet_reading.py.
"""

from __future__ import annotations

import base64
import json
import socket
import threading
from collections.abc import Iterator

import pytest

from rigtui.fleet.model import FleetError
from rigtui.fleet.prometheus import PrometheusClient
from tests.fleet_servers import DATA, Answer, TinyServer, closed_port, tiny_server


@pytest.fixture
def tiny() -> Iterator[TinyServer]:
    with tiny_server() as server:
        yield server


async def failure(client: PrometheusClient, expr: str = "up") -> str:
    try:
        with pytest.raises(FleetError) as caught:
            await client.query(expr)
    finally:
        await client.aclose()
    return str(caught.value)


def vector(*values: float) -> bytes:
    result = [
        {"metric": {"__name__": "up", "instance": f"rig{n}:9101"}, "value": [1.0, str(value)]}
        for n, value in enumerate(values)
    ]
    return json.dumps(
        {"status": "success", "data": {"resultType": "vector", "result": result}}
    ).encode()


async def test_nothing_listening_says_so_and_asks_whether_prometheus_runs() -> None:
    port = closed_port()
    words = await failure(PrometheusClient(f"http://127.0.0.1:{port}"))
    assert "connection refused" in words
    assert f"http://127.0.0.1:{port}" in words
    assert "is Prometheus running" in words


async def test_a_host_that_does_not_resolve_is_a_dns_failure() -> None:
    words = await failure(PrometheusClient("http://rigtui-test.invalid:9090"))
    assert "not known (DNS)" in words
    assert "rigtui-test.invalid" in words


async def test_https_to_a_plain_http_server_is_a_tls_failure(tiny: TinyServer) -> None:
    words = await failure(PrometheusClient(f"https://127.0.0.1:{tiny.port}"))
    assert words.startswith(f"TLS with https://127.0.0.1:{tiny.port} failed")
    assert "https:// against http://" in words


async def test_a_server_that_does_not_speak_http(tiny: TinyServer) -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def banner() -> None:
        connection, _ = listener.accept()
        with connection:
            connection.sendall(b"SSH-2.0-OpenSSH_9.2\r\n")

    thread = threading.Thread(target=banner, daemon=True)
    thread.start()
    try:
        words = await failure(PrometheusClient(f"http://127.0.0.1:{port}"))
    finally:
        listener.close()
    assert "does not speak HTTP" in words
    assert "right port" in words


async def test_a_404_says_the_url_is_not_prometheus_root(tiny: TinyServer) -> None:
    words = await failure(PrometheusClient(f"{tiny.url}/api/v1"))
    assert tiny.asked[0][0].startswith("/api/v1/api/v1/query?")
    assert "has no /api/v1/query (404)" in words
    assert "Prometheus' root" in words
    assert "reverse proxy" in words


@pytest.mark.parametrize(
    ("content_type", "body", "said"),
    [
        (
            "text/html; charset=utf-8",
            b"<!DOCTYPE html><html><body>Grafana</body></html>",
            "web page",
        ),
        (
            "text/plain; version=0.0.4",
            b"# HELP rigtui_gpus How many GPUs.\n# TYPE rigtui_gpus gauge\nrigtui_gpus 2\n",
            "that is an exporter",
        ),
        ("text/plain", b"hello", "did not answer JSON"),
        ("application/json", b"", "answered nothing"),
        ("application/json", b'{"hello": "world"}', "JSON that is not Prometheus' API"),
        ("application/json", b"[1, 2, 3]", "JSON that is not Prometheus' API"),
    ],
)
async def test_an_answer_that_is_not_prometheus(
    tiny: TinyServer, content_type: str, body: bytes, said: str
) -> None:
    tiny.answers["/api/v1/query"] = Answer(200, content_type, body)
    words = await failure(PrometheusClient(tiny.url))
    assert f"{tiny.url} does not look like Prometheus" in words
    assert said in words


async def test_a_result_of_the_wrong_shape_is_not_prometheus(tiny: TinyServer) -> None:
    tiny.answers["/api/v1/query"] = Answer(
        body=b'{"status": "success", "data": {"resultType": "vector", "result": [1]}}'
    )
    words = await failure(PrometheusClient(tiny.url))
    assert "not a list of series" in words


async def test_a_bad_query_is_refused_with_prometheus_words(tiny: TinyServer) -> None:
    recorded = (DATA / "prometheus-bad-query.json").read_bytes()
    tiny.answers["/api/v1/query"] = Answer(400, "application/json", recorded)
    words = await failure(PrometheusClient(tiny.url), "up +")
    assert "refused /api/v1/query (bad_data)" in words
    assert json.loads(recorded)["error"] in words


@pytest.mark.parametrize(
    ("status", "said"),
    [
        (401, "put user:password@ in the URL"),
        (403, "refused access to /api/v1/query (403)"),
        (502, "a proxy in front of Prometheus could not reach it"),
        (418, "answered /api/v1/query with 418 I'm a Teapot"),
    ],
)
async def test_http_errors_without_prometheus_words(
    tiny: TinyServer, status: int, said: str
) -> None:
    tiny.answers["/api/v1/query"] = Answer(status, "text/plain", b"nope")
    words = await failure(PrometheusClient(tiny.url))
    assert said in words


async def test_an_oversized_answer_is_cut_off(tiny: TinyServer) -> None:
    tiny.answers["/api/v1/query"] = Answer(body=vector(*range(200)))
    assert len(tiny.answers["/api/v1/query"].body) > 4096
    words = await failure(PrometheusClient(tiny.url, max_answer_bytes=4096))
    assert "with more than 0.00390625 MiB" in words


async def test_a_server_that_hangs_times_out(tiny: TinyServer) -> None:
    tiny.answers["/api/v1/query"] = Answer(hold=True)
    words = await failure(PrometheusClient(tiny.url, timeout_s=0.2))
    assert f"Prometheus at {tiny.url} did not answer within 0.2 s" in words


async def test_a_path_prefix_and_basic_auth_reach_the_server(tiny: TinyServer) -> None:
    tiny.answers["/prom/api/v1/query"] = Answer(body=vector(1, 0))
    client = PrometheusClient(f"http://rig:p%40ss@127.0.0.1:{tiny.port}/prom/")
    try:
        results = await client.query("up", at=1234.5)
    finally:
        await client.aclose()
    assert [result["value"][1] for result in results] == ["1", "0"]
    path, headers = tiny.asked[0]
    assert path == "/prom/api/v1/query?query=up&time=1234.500"
    assert headers["Authorization"] == "Basic " + base64.b64encode(b"rig:p@ss").decode()
    assert client.url == f"http://127.0.0.1:{tiny.port}/prom"


async def test_the_password_is_never_in_a_message(tiny: TinyServer) -> None:
    words = await failure(PrometheusClient(f"http://rig:hunter2@127.0.0.1:{tiny.port}/x"))
    assert "hunter2" not in words
    assert "rig:" not in words
    assert f"http://127.0.0.1:{tiny.port}/x has no /api/v1/query" in words


@pytest.mark.parametrize("kind", ["scalar", "string", "matrix"])
async def test_an_answer_that_is_not_series_is_refused_not_taken_as_none(
    tiny: TinyServer, kind: str
) -> None:
    # Read as no series, a scalar would show an empty fleet and drop the last good reading.
    tiny.answers["/api/v1/query"] = Answer.of(
        {"status": "success", "data": {"resultType": kind, "result": [1.5, "2"]}}
    )
    words = await failure(PrometheusClient(tiny.url))
    assert f"does not look like Prometheus (a query asked for a vector answered a {kind})" in words


async def test_a_redirect_elsewhere_names_where_it_went(tiny: TinyServer) -> None:
    elsewhere = f"http://127.0.0.1:{closed_port()}"
    tiny.answers["/api/v1/query"] = Answer(302, location=f"{elsewhere}/api/v1/query")
    words = await failure(PrometheusClient(tiny.url))
    # The server asked is up: the refusal came from where it sent rigtui.
    assert words.startswith(f"Nothing answers at {elsewhere} (where {tiny.url} redirected)")


async def test_a_redirect_loop_is_said_as_one(tiny: TinyServer) -> None:
    tiny.answers["/api/v1/query"] = Answer(302, location="/api/v1/query")
    words = await failure(PrometheusClient(tiny.url))
    assert words == (
        f"{tiny.url} redirects in a loop (or more than 20 times): give the URL that "
        "Prometheus itself answers at."
    )


async def test_a_big_answer_is_read_whole(tiny: TinyServer) -> None:
    # Over a megabyte, the JSON is parsed on a thread: the same series come back.
    result = [
        {
            "metric": {"__name__": "up", "instance": f"rig{n}:10430", "pad": "x" * 200},
            "value": [1, "1"],
        }
        for n in range(6000)
    ]
    tiny.answers["/api/v1/query"] = Answer.of(
        {"status": "success", "data": {"resultType": "vector", "result": result}}
    )
    assert len(tiny.answers["/api/v1/query"].body) > 2**20
    client = PrometheusClient(tiny.url)
    try:
        assert await client.query("up") == result
    finally:
        await client.aclose()


async def test_alerts_that_are_not_a_list_are_not_prometheus(tiny: TinyServer) -> None:
    tiny.answers["/api/v1/alerts"] = Answer(body=b'{"status":"success","data":{"groups":[]}}')
    client = PrometheusClient(tiny.url)
    try:
        with pytest.raises(FleetError, match="answered without a list of alerts"):
            await client.alerts()
    finally:
        await client.aclose()


@pytest.mark.parametrize(
    "url", ["ftp://rig:9090", "http://", "http://rig:99999", "http://rig:secret@rig:port"]
)
async def test_an_unusable_url_is_said_at_the_first_request(url: str) -> None:
    client = PrometheusClient(url)  # never fails: the Fleet tab says it inline
    words = await failure(client)
    assert "cannot be used" in words
    assert "secret" not in words
