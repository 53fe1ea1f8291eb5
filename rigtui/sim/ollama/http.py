"""HTTP/1.1 as Ollama's Go server speaks it, from an asyncio loop in a thread of its own (stdlib).

:class:`HttpServer` listens on ``host:port`` and runs its loop in a background thread, so it
serves synchronous tests and another asyncio loop alike; it can stop listening and listen again
on the same port (a refused connection, as when Ollama is not running) and runs a periodic chore
on its loop. :class:`Connection` is one keep-alive connection: requests with a length or chunked
bodies (``Expect: 100-continue`` answered), replies with a length or NDJSON lines as chunks of a
chunked transfer, a watcher that notices when the client leaves, and drops on purpose with a FIN
or an RST. What a request means is the caller's: it hands in ``dispatch``.
"""

from __future__ import annotations

import asyncio
import contextlib
import http
import socket
import struct
import threading
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from email.utils import formatdate

from rigtui.sim.ollama.wire import go_json
from rigtui.sim.rig import MIB

MAX_BODY_BYTES = 32 * MIB
TICK_S = 0.025


class HttpError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class ClientGoneError(Exception):
    """The client closed the connection (or it broke) while the server was working."""


class DroppedError(Exception):
    """The server dropped the connection on purpose (a fault)."""


@dataclass
class Request:
    method: str
    path: str
    version: str
    headers: dict[str, str]
    body: bytes


class Connection:
    """One keep-alive HTTP/1.1 connection, and a watcher that notices when the client leaves."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.buffer = bytearray()
        self.gone = asyncio.Event()
        self.status: int | None = None
        self.streaming = False
        self._watcher: asyncio.Task | None = None

    async def _fill(self) -> bool:
        data = await self.reader.read(65536)
        if not data:
            return False
        self.buffer += data
        return True

    async def _line(self) -> bytes:
        while (end := self.buffer.find(b"\r\n")) < 0:
            if len(self.buffer) > 65536 or not await self._fill():
                raise HttpError(400, "malformed request")
        line = bytes(self.buffer[:end])
        del self.buffer[: end + 2]
        return line

    async def _exactly(self, count: int) -> bytes:
        while len(self.buffer) < count:
            if not await self._fill():
                raise HttpError(400, "unexpected EOF")
        data = bytes(self.buffer[:count])
        del self.buffer[:count]
        return data

    async def read_request(self) -> Request | None:
        while (end := self.buffer.find(b"\r\n\r\n")) < 0:
            if len(self.buffer) > 65536:
                raise HttpError(431, "request header fields too large")
            if not await self._fill():
                if self.buffer.strip():
                    raise HttpError(400, "malformed request")
                return None
        head = bytes(self.buffer[:end]).decode("latin-1").lstrip("\r\n")
        del self.buffer[: end + 4]
        lines = head.split("\r\n")
        try:
            method, target, version = lines[0].split(" ", 2)
        except ValueError:
            raise HttpError(400, "malformed request line") from None
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        if headers.get("expect", "").lower() == "100-continue":
            self.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        if "chunked" in headers.get("transfer-encoding", "").lower():
            body = bytearray()
            while True:
                size = int(((await self._line()).split(b";")[0].strip() or b"0"), 16)
                if size == 0:
                    while await self._line():
                        pass
                    break
                body += await self._exactly(size)
                await self._exactly(2)
                if len(body) > MAX_BODY_BYTES:
                    raise HttpError(413, "request body too large")
            body = bytes(body)
        else:
            try:
                length = int(headers.get("content-length") or 0)
            except ValueError:
                raise HttpError(400, "bad content length") from None
            if length > MAX_BODY_BYTES:
                raise HttpError(413, "request body too large")
            body = await self._exactly(length)
        path = target.split("?", 1)[0]
        return Request(method.upper(), path, version.strip().upper(), headers, body)

    # -- noticing that the client went away --

    def watch(self) -> None:
        self._watcher = asyncio.ensure_future(self._watch())

    async def _watch(self) -> None:
        try:
            while await self._fill():
                pass
        except (ConnectionError, OSError):
            pass
        self.gone.set()

    async def unwatch(self) -> None:
        watcher, self._watcher = self._watcher, None
        if watcher is not None:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher

    async def pause(self, seconds: float) -> bool:
        """Wait; ``True`` as soon as the client has gone."""
        if self.gone.is_set():
            return True
        if seconds <= 0.002:
            await asyncio.sleep(max(0.0, seconds))
        else:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.gone.wait(), seconds)
        return self.gone.is_set()

    # -- writing --

    async def _write(self, data: bytes) -> None:
        if self.gone.is_set() or self.writer.is_closing():
            raise ClientGoneError
        self.writer.write(data)
        try:
            await self.writer.drain()
        except (ConnectionError, OSError) as exc:
            self.gone.set()
            raise ClientGoneError from exc

    @staticmethod
    def _head(status: int, headers: Iterable[tuple[str, str]]) -> bytes:
        try:
            reason = http.HTTPStatus(status).phrase
        except ValueError:
            reason = ""
        lines = [f"HTTP/1.1 {status} {reason}".rstrip()]
        lines += [f"{name}: {value}" for name, value in headers]
        lines.append(f"Date: {formatdate(usegmt=True)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    async def send(
        self, status: int, body: bytes, content_type: str, *, head_only: bool = False
    ) -> None:
        self.status = status
        head = self._head(
            status, [("Content-Type", content_type), ("Content-Length", str(len(body)))]
        )
        await self._write(head if head_only else head + body)

    async def send_empty(self, status: int) -> None:
        """A status and no body, as a Go handler that writes nothing answers."""
        self.status = status
        await self._write(self._head(status, [("Content-Length", "0")]))

    async def send_json(self, status: int, value: object, *, head_only: bool = False) -> None:
        await self.send(
            status, go_json(value), "application/json; charset=utf-8", head_only=head_only
        )

    async def send_line(self, value: object | bytes) -> None:
        """One NDJSON line as one HTTP chunk; the headers go with the first."""
        data = value if isinstance(value, bytes) else go_json(value) + b"\n"
        frame = f"{len(data):x}\r\n".encode() + data + b"\r\n"
        if not self.streaming:
            self.streaming = True
            self.status = 200
            headers = [("Content-Type", "application/x-ndjson"), ("Transfer-Encoding", "chunked")]
            frame = self._head(200, headers) + frame
        await self._write(frame)

    async def end_stream(self) -> bool:
        """The terminating chunk. A client that left after the last line is no cancellation."""
        try:
            await self._write(b"0\r\n\r\n")
        except ClientGoneError:
            return False
        return True

    def drop(self, *, reset: bool) -> None:
        if reset:
            sock = self.writer.get_extra_info("socket")
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.writer.transport.abort()
        else:
            self.writer.close()

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.writer.close()


Dispatch = Callable[[Connection, Request], Awaitable[bool]]
"""Answer one request; ``False`` when the connection cannot be used again."""


class HttpServer:
    """Serves ``dispatch`` on ``host:port`` from an asyncio loop in a background thread.

    While ``refusing()`` is true a new connection is reset at once; :meth:`set_listening`
    closes or reopens the listening socket on the same port. ``tick`` runs on the loop every
    :data:`TICK_S`. ``start()`` and ``stop()`` block until the thread has started or ended.
    """

    def __init__(
        self,
        host: str,
        port: int,
        *,
        dispatch: Dispatch,
        refusing: Callable[[], bool],
        tick: Callable[[], None],
        thread_name: str,
    ) -> None:
        self.host = host
        self.port = port
        """The port asked for, then the one listened on (kept for a restart)."""
        self.accepted_connections = 0
        """TCP connections accepted (keep-alive makes this smaller than the requests)."""
        self._dispatch = dispatch
        self._refusing = refusing
        self._tick_action = tick
        self._thread_name = thread_name
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.AbstractServer | None = None
        self._tasks: set[asyncio.Task] = set()
        self._tick_task: asyncio.Future | None = None
        self._connections: set[Connection] = set()

    @property
    def running(self) -> bool:
        return self._thread is not None

    def start(self) -> None:
        """Listen and serve from a new thread; raises what opening the listener raised."""
        if self._thread is not None:
            raise RuntimeError("the server is already running")
        loop = asyncio.new_event_loop()
        started = threading.Event()
        failure: list[BaseException] = []
        thread = threading.Thread(
            target=self._run_loop,
            args=(loop, started, failure),
            name=self._thread_name,
            daemon=True,
        )
        thread.start()
        started.wait()
        if failure:
            thread.join()
            self._loop = None
            raise failure[0]
        self._thread = thread

    def stop(self) -> bool:
        """End the loop and its thread; ``False`` when it was not running."""
        thread, loop = self._thread, self._loop
        if thread is None or loop is None:
            return False
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        self._thread = None
        self._loop = None
        return True

    def set_listening(self, listening: bool, *, wait: bool) -> None:
        """Reopen or close the listening socket; ``wait`` for it unless on the loop's thread."""
        loop = self._loop
        if loop is None or not loop.is_running():
            return
        action = self._listen() if listening else self._stop_listening_async()
        if threading.current_thread() is self._thread:
            loop.create_task(action)
            return
        future = asyncio.run_coroutine_threadsafe(action, loop)
        if wait:
            future.result(timeout=5.0)

    def _run_loop(
        self, loop: asyncio.AbstractEventLoop, started: threading.Event, failure: list
    ) -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self._open(loop))
        except Exception as exc:  # noqa: BLE001 - handed to start() to raise there
            failure.append(exc)
            started.set()
            loop.close()
            return
        started.set()
        try:
            loop.run_forever()
        finally:
            if self._tick_task is not None:
                self._tick_task.cancel()
                self._tick_task = None
            loop.run_until_complete(self._shutdown())
            loop.close()

    async def _open(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        await self._listen()
        self._tick_task = asyncio.ensure_future(self._tick())
        if self._refusing():
            self._stop_listening()

    async def _listen(self) -> None:
        if self._server is not None:
            return
        self._server = await asyncio.start_server(self._serve, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    def _stop_listening(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()

    async def _stop_listening_async(self) -> None:
        self._stop_listening()

    async def _shutdown(self) -> None:
        """Close the listener and every connection; requests in flight end as cancelled."""
        self._stop_listening()
        for conn in list(self._connections):
            conn.writer.transport.abort()
        tasks = list(self._tasks)
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=2.0)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        self._tasks.clear()

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(TICK_S)
            self._tick_action()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        sock = writer.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn = Connection(reader, writer)
        self._connections.add(conn)
        self.accepted_connections += 1
        try:
            if self._refusing():
                conn.drop(reset=True)
                return
            while True:
                try:
                    request = await conn.read_request()
                except HttpError as exc:
                    await conn.send(exc.status, exc.message.encode(), "text/plain; charset=utf-8")
                    return
                if request is None or not await self._dispatch(conn, request):
                    return
        except (ConnectionError, OSError, ClientGoneError, DroppedError):
            pass
        except asyncio.CancelledError:
            # Only stop() cancels, and only a connection that outstayed it: end quietly (the
            # streams module would report a cancelled connection task as an error).
            pass
        finally:
            self._connections.discard(conn)
            if task is not None:
                self._tasks.discard(task)
            conn.close()
