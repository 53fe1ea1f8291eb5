"""Prometheus' HTTP API (``/api/v1/query``, ``/query_range``, ``/alerts``), every failure in words.

Pure: no Textual. Over httpx (already here through ollama), imported when the first client is
made so the dashboard's first frame does not wait for it. The base URL may carry a path (a
reverse proxy serving Prometheus under ``/prometheus``) and ``user:password@`` for basic auth;
the password never appears in a message.
"""

from __future__ import annotations

import asyncio
import json
import ssl
from typing import Any
from urllib.parse import unquote, urlsplit

from rigtui.fleet.model import FleetError
from rigtui.text.safe import without_credentials

_PARSE_ON_LOOP_BYTES = 2**20
"""Answers above this are parsed on a thread, off the loop that draws: JSON parses at about
15 ms a megabyte here (4.5 MB, a 200-rig fleet's values, in 70 ms)."""

MAX_ANSWER_BYTES = 32 * 2**20
"""A bigger answer is refused: a fleet's reading is some hundred kilobytes, so this is a wrong
URL or a runaway query, and it must not eat the rig's memory."""


def _display_url(scheme: str, host: str, port: int | None, path: str) -> str:
    shown_host = f"[{host}]" if ":" in host else host
    shown_port = f":{port}" if port is not None else ""
    return f"{scheme}://{shown_host}{shown_port}{path}"


def _causes(error: BaseException) -> list[BaseException]:
    """The error and what it was raised from, outermost first."""
    chain: list[BaseException] = []
    while error is not None and error not in chain:
        chain.append(error)
        error = error.__cause__ or error.__context__  # type: ignore[assignment]
    return chain


class PrometheusClient:
    """One Prometheus server. Each method raises :class:`FleetError` and nothing else; a URL
    that cannot be used is said at the first request, so making a client never fails."""

    def __init__(
        self, url: str, *, timeout_s: float = 5.0, max_answer_bytes: int = MAX_ANSWER_BYTES
    ) -> None:
        self.timeout_s = timeout_s
        self.max_answer_bytes = max_answer_bytes
        self._auth: tuple[str, str] | None = None
        self._client: Any = None
        self._unusable: str | None = None
        self._origin: tuple[str, str, int | None] | None = None
        text = url.strip()
        if "://" not in text:
            text = f"http://{text}"
        # Shown in messages: never the user or password.
        self.url = without_credentials(text).rstrip("/")
        """The server, as shown in messages: without a user or password."""
        try:
            split = urlsplit(text)
            port = split.port
        except ValueError as error:
            self._unusable = f"The Prometheus URL {self.url} cannot be used: {error}."
            return
        if split.scheme not in ("http", "https") or not split.hostname:
            self._unusable = (
                f"The Prometheus URL {self.url} cannot be used: give http://HOST:PORT "
                "(Prometheus listens on 9090 by default)."
            )
            return
        self.url = _display_url(split.scheme, split.hostname, port, split.path.rstrip("/"))
        self._origin = (split.scheme, split.hostname, port)
        if split.username is not None:
            self._auth = (unquote(split.username), unquote(split.password or ""))

    def _http(self) -> Any:
        if self._client is None:
            import httpx

            self._client = httpx.AsyncClient(
                base_url=f"{self.url}/",
                auth=self._auth,
                timeout=httpx.Timeout(self.timeout_s),
                follow_redirects=True,
                headers={"Accept": "application/json"},
            )
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            await client.aclose()

    # --- the API ---------------------------------------------------------------------------------

    async def query(self, expr: str, at: float | None = None) -> list[dict]:
        """An instant query's series: ``[{"metric": {...}, "value": [t, "1.5"]}, ...]``. Every
        query the fleet asks is of series, so a scalar or string answer is refused, not read
        as no series (which would show an empty fleet)."""
        params = {"query": expr}
        if at is not None:
            params["time"] = f"{at:.3f}"
        data = await self._get("api/v1/query", params)
        return self._results(data, "vector", "value")

    async def query_range(self, expr: str, start: float, end: float, step_s: float) -> list[dict]:
        """A range query's results: ``[{"metric": {...}, "values": [[t, "1.5"], ...]}, ...]``."""
        params = {
            "query": expr,
            "start": f"{start:.3f}",
            "end": f"{end:.3f}",
            "step": f"{step_s:g}",
        }
        data = await self._get("api/v1/query_range", params)
        return self._results(data, "matrix", "values")

    async def alerts(self) -> list[dict]:
        """The firing and pending alerts: ``/api/v1/alerts``' ``data.alerts``."""
        data = await self._get("api/v1/alerts", {})
        alerts = data.get("alerts") if isinstance(data, dict) else None
        if not isinstance(alerts, list) or not all(isinstance(item, dict) for item in alerts):
            raise self._not_prometheus("/api/v1/alerts answered without a list of alerts")
        return alerts

    # --- one request -------------------------------------------------------------------------

    def _results(self, data: Any, wanted: str, key: str) -> list[dict]:
        kind = data.get("resultType") if isinstance(data, dict) else None
        result = data.get("result") if isinstance(data, dict) else None
        if kind != wanted:
            what = kind if isinstance(kind, str) and kind.isidentifier() else "result"
            raise self._not_prometheus(f"a query asked for a {wanted} answered a {what}")
        if not isinstance(result, list) or not all(
            isinstance(item, dict) and isinstance(item.get("metric"), dict) and key in item
            for item in result
        ):
            raise self._not_prometheus("a query's result is not a list of series")
        return result

    async def _get(self, path: str, params: dict[str, str]) -> Any:
        """``data`` of a successful answer. Raises FleetError."""
        if self._unusable is not None:
            raise FleetError(self._unusable)
        try:
            async with asyncio.timeout(self.timeout_s):
                status, reason, content_type, body = await self._fetch(path, params)
        except FleetError:
            raise
        except TimeoutError:
            raise FleetError(
                f"Prometheus at {self.url} did not answer within {self.timeout_s:g} s: "
                "it may be overloaded, or the query too heavy."
            ) from None
        except Exception as error:
            raise self._transport_error(error) from error
        if len(body) > _PARSE_ON_LOOP_BYTES:
            answer = await asyncio.to_thread(self._json, body)
        else:
            answer = self._json(body)
        if isinstance(answer, dict) and answer.get("status") == "error":
            words = str(answer.get("error") or "no reason given")
            kind = answer.get("errorType")
            kind_words = f" ({kind})" if kind else ""
            raise FleetError(f"Prometheus at {self.url} refused /{path}{kind_words}: {words}")
        if not 200 <= status < 300:
            raise self._http_error(path, status, reason)
        if answer is None:
            raise self._not_prometheus(self._what_it_is(content_type, body))
        if not isinstance(answer, dict) or answer.get("status") != "success":
            raise self._not_prometheus(f"/{path} answered JSON that is not Prometheus' API")
        return answer.get("data")

    async def _fetch(self, path: str, params: dict[str, str]) -> tuple[int, str, str, bytes]:
        client = self._http()
        async with client.stream("GET", path, params=params) as response:
            body = bytearray()
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > self.max_answer_bytes:
                    raise FleetError(
                        f"{self.url} answered /{path} with more than "
                        f"{self.max_answer_bytes / 2**20:g} MiB: is this Prometheus' own "
                        "address?"
                    )
            content_type = response.headers.get("content-type", "")
            return response.status_code, response.reason_phrase, content_type, bytes(body)

    @staticmethod
    def _json(body: bytes) -> Any:
        try:
            return json.loads(body)
        except ValueError:
            return None

    def _not_prometheus(self, what: str) -> FleetError:
        return FleetError(
            f"{self.url} does not look like Prometheus ({what}): give the Prometheus server's "
            "URL, e.g. http://HOST:9090."
        )

    @staticmethod
    def _what_it_is(content_type: str, body: bytes) -> str:
        head = body[:4096].decode("utf-8", "replace").lstrip()
        if "# HELP" in head or "# TYPE" in head:
            return "it serves metrics: that is an exporter, which Prometheus scrapes"
        if "html" in content_type or head[:15].lower().startswith(("<!doctype", "<html")):
            return "it answered a web page"
        if not head:
            return "it answered nothing"
        return "it did not answer JSON"

    def _http_error(self, path: str, status: int, reason: str) -> FleetError:
        said = f"{status} {reason}".strip()
        if status == 404:
            return FleetError(
                f"{self.url} has no /{path} (404): the URL must be Prometheus' root, without "
                "/graph or /api/v1, and behind a reverse proxy the prefix it serves Prometheus "
                "under."
            )
        if status == 401:
            return FleetError(
                f"Prometheus at {self.url} asks who you are (401): put user:password@ in the URL."
            )
        if status == 403:
            return FleetError(f"Prometheus at {self.url} refused access to /{path} (403).")
        if status in (502, 503, 504):
            return FleetError(
                f"{self.url} answered {said}: a proxy in front of Prometheus could not reach it, "
                "or Prometheus is starting or overloaded."
            )
        return FleetError(f"Prometheus at {self.url} answered /{path} with {said}.")

    def _transport_error(self, error: BaseException) -> FleetError:
        import httpx

        if isinstance(error, httpx.TooManyRedirects):
            return FleetError(
                f"{self.url} redirects in a loop (or more than 20 times): give the URL that "
                "Prometheus itself answers at."
            )
        where = self._where(error)
        causes = _causes(error)
        text = " ".join(str(cause) for cause in causes).lower()
        if isinstance(error, httpx.TimeoutException):
            return FleetError(
                f"Prometheus at {where} did not answer within {self.timeout_s:g} s: "
                "it may be overloaded, or a firewall drops the connection."
            )
        if any(isinstance(cause, ssl.SSLError) for cause in causes) or "ssl" in text:
            reason = next(
                (str(cause) for cause in causes if isinstance(cause, ssl.SSLError)), str(error)
            )
            return FleetError(
                f"TLS with {where} failed ({reason}): check https:// against http://, and "
                "that this machine trusts the server's certificate."
            )
        if any(isinstance(cause, ConnectionRefusedError) for cause in causes) or (
            "refused" in text
        ):
            return FleetError(
                f"Nothing answers at {where} (connection refused): is Prometheus running "
                "there, on that port?"
            )
        if any(
            word in text
            for word in (
                "name or service not known",
                "nodename nor servname",
                "temporary failure in name resolution",
                "no address associated",
                "getaddrinfo",
            )
        ):
            return FleetError(
                f"The host of {where} is not known (DNS): check its spelling, or give an "
                "IP address."
            )
        if isinstance(error, httpx.RemoteProtocolError | httpx.ReadError | httpx.WriteError):
            # An SSH or database port answers a banner and hangs up: a reset, or bad HTTP.
            how = str(error) or "the connection closed without an HTTP answer"
            return FleetError(
                f"{where} does not speak HTTP as Prometheus does ({how}): is this the right port?"
            )
        if isinstance(error, httpx.ConnectError | OSError):
            return FleetError(
                f"Cannot reach Prometheus at {where}: "
                f"{str(error).rstrip('.') or type(error).__name__}."
            )
        if isinstance(error, httpx.HTTPError):
            return FleetError(
                f"Reading Prometheus at {where} failed: "
                f"{str(error).rstrip('.') or type(error).__name__}."
            )
        return FleetError(f"Reading Prometheus at {where} failed unexpectedly: {error!r}")

    def _where(self, error: BaseException) -> str:
        """The server a failed request went to, as shown: ours, or where ours redirected it."""
        try:
            url = error.request.url  # type: ignore[attr-defined]
        except (AttributeError, RuntimeError):  # httpx raises RuntimeError when it has none
            return self.url
        if (url.scheme, url.host, url.port) == self._origin:
            return self.url
        target = _display_url(url.scheme, url.host, url.port, "")
        return f"{target} (where {self.url} redirected)"
