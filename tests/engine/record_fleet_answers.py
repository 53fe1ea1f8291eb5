"""Record a real Prometheus' answers to the fleet's queries into tests/data/fleet-recorded.json.

The default suite reads the fleet from these answers (replayed by ``tests/fleet_servers.py``)
so it needs no Prometheus. Run this again whenever ``rigtui.fleet.reading`` asks different
queries, against a Prometheus scraping ``rigtui exporter --demo --demo-still`` rigs (the
``fleet`` fixture's: fits, offload, lost, and gone, stopped after one scrape) with alert rules
loaded::

    PYTHONPATH=. python tests/engine/record_fleet_answers.py http://127.0.0.1:9090 \
        --history-instance 127.0.0.1:9101

A proxy of its own sits between rigtui's real client and Prometheus and keeps each answer.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

from rigtui.fleet.prometheus import PrometheusClient
from rigtui.fleet.reading import read_fleet, read_history
from tests.fleet_servers import RECORDED, answer_key

WINDOW_S = 60.0
POINTS = 30


def _recording_proxy(target: str, answers: dict) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            split = urlsplit(self.path)
            try:
                with urllib.request.urlopen(target + self.path, timeout=10) as response:
                    status, body = response.status, response.read()
            except urllib.error.HTTPError as error:
                status, body = error.code, error.read()
            answers[answer_key(split.path, split.query)] = json.loads(body)
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    return ThreadingHTTPServer(("127.0.0.1", 0), Handler)


async def _record(proxy_url: str, instance: str, now: float) -> None:
    client = PrometheusClient(proxy_url)
    try:
        await read_fleet(client, now=now)
        await read_history(client, instance, end=now, window_s=WINDOW_S, points=POINTS)
    finally:
        await client.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("prometheus_url")
    parser.add_argument("--history-instance", required=True)
    parser.add_argument("--note", default="")
    parser.add_argument("--out", type=Path, default=RECORDED)
    args = parser.parse_args()
    target = args.prometheus_url.rstrip("/")
    with urllib.request.urlopen(f"{target}/api/v1/status/buildinfo", timeout=10) as response:
        version = json.load(response)["data"]["version"]
    answers: dict = {}
    proxy = _recording_proxy(target, answers)
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    now = time.time()
    try:
        asyncio.run(
            _record(f"http://127.0.0.1:{proxy.server_address[1]}", args.history_instance, now)
        )
    finally:
        proxy.shutdown()
    recording = {
        "note": args.note,
        "prometheus_version": version,
        "read_at": now,
        "history": {
            "instance": args.history_instance,
            "end": now,
            "window_s": WINDOW_S,
            "points": POINTS,
        },
        "answers": dict(sorted(answers.items())),
    }
    args.out.write_text(json.dumps(recording, indent=1) + "\n")
    print(f"{len(answers)} answers from Prometheus {version} in {args.out}")


if __name__ == "__main__":
    main()
