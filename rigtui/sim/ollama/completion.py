"""``/api/chat`` and ``/api/generate``: one request, from its body to the final metrics.

A request is checked in the order Ollama checks it (the body, the model, its capabilities), then
asks the scheduler for a runner and waits while it loads or while busy models leave no room; one
request at a time uses a model (``OLLAMA_NUM_PARALLEL=1``). The runner evaluates the prompt, then
streams the canned reply (:mod:`~rigtui.sim.ollama.models`) token by token at the modelled rate
(:mod:`~rigtui.sim.ollama.speed`, divided by ``speed``), as NDJSON lines or one reply, with any
:class:`~rigtui.sim.ollama.faults.Faults` applied on the way. All durations the server reports
are measured from real elapsed time, so ``eval_count / eval_duration`` is the rate at which
tokens were actually streamed; ``created_at`` uses the server's ``clock``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

from rigtui.sim.ollama.decoding import int_option, parse_completion
from rigtui.sim.ollama.faults import UNEXPECTED_EOF, Faults
from rigtui.sim.ollama.http import ClientGoneError, Connection, DroppedError, HttpError, Request
from rigtui.sim.ollama.library import Library
from rigtui.sim.ollama.models import (
    ModelSpec,
    canned_reply,
    canned_thinking,
    full_name,
    token_ids,
    tokenize,
)
from rigtui.sim.ollama.scheduler import Runner, Scheduler
from rigtui.sim.ollama.wire import go_json, go_quote, rfc3339


def _reason(done_reason: str) -> dict:
    return {"done_reason": done_reason}


class Completions:
    """Answers chat and generate requests with the library's models, on the scheduler's runners.

    ``faults`` gives the server's current :class:`Faults` (they may be replaced while serving).
    """

    def __init__(
        self,
        *,
        library: Library,
        scheduler: Scheduler,
        version: tuple[int, ...],
        seed: int,
        clock: Callable[[], float],
        faults: Callable[[], Faults],
    ) -> None:
        self._library = library
        self._scheduler = scheduler
        self._version = version
        self.seed = seed
        """The reply's seed where a request gives no ``options.seed``."""
        self._clock = clock
        self._faults = faults

    async def handle(self, conn: Connection, request: Request, log: dict, *, chat: bool) -> bool:
        """Answer one chat (``chat``) or generate request; ``False`` when the connection is
        done with."""
        started_ns = time.perf_counter_ns()
        body, asked = parse_completion(request.body, chat=chat)
        model, think, empty, prompt = asked.model, asked.think, asked.empty, asked.prompt
        keep_alive_s, options = asked.keep_alive_s, asked.options
        log["model"] = model or None
        if chat:  # what the client sent as the history: tests check regenerate and resend
            log["messages"] = body.get("messages")
        spec = self._library.installed_spec(model)
        if spec is None:
            if chat and self._version < (0, 12):
                raise HttpError(404, f'model "{model}" not found, try pulling it first')
            raise HttpError(404, f"model '{model}' not found")
        if empty and keep_alive_s == 0:
            self._scheduler.expire(spec.name)
            await conn.send_json(200, self._chunk(model, chat, done=True, tail=_reason("unload")))
            return True
        thinking = False
        if "thinking" in spec.capabilities:
            thinking = bool(think) if think is not None else self._version >= (0, 12)
        elif think:
            raise HttpError(400, f"{go_quote(model)} does not support thinking")
        if "completion" not in spec.capabilities:
            raise HttpError(
                400, f"{go_quote(model)} does not support {'chat' if chat else 'generate'}"
            )
        if chat and body.get("tools") and "tools" not in spec.capabilities:
            raise HttpError(400, f"{full_name(model)} does not support tools")
        if not chat and body.get("suffix") and "insert" not in spec.capabilities:
            raise HttpError(400, f"{go_quote(model)} does not support insert")
        faults = self._faults()
        if faults.error_status is not None:
            log["fault"] = "error_status"
            status, message = faults.error_status
            raise HttpError(status, message)

        num_ctx, num_gpu = self._scheduler.runner_options(spec, options)
        runner, load_ns = await self._acquire(conn, spec, num_ctx, num_gpu, keep_alive_s)
        try:
            if empty:
                await conn.send_json(200, self._chunk(model, chat, done=True, tail=_reason("load")))
                return True
            while runner.busy:  # one request at a time per model (OLLAMA_NUM_PARALLEL=1)
                if await conn.pause(0.005):
                    raise ClientGoneError
            runner.busy = True
            try:
                return await self._generate(
                    conn,
                    runner,
                    log,
                    chat=chat,
                    model=model,
                    body=body,
                    prompt=prompt,
                    thinking=thinking,
                    stream=asked.stream,
                    options=options,
                    started_ns=started_ns,
                    load_ns=load_ns,
                )
            finally:
                runner.busy = False
        finally:
            self._scheduler.release(runner)

    def _now_ns(self) -> int:
        if self._clock is time.time:
            return time.time_ns()
        return int(self._clock() * 1e9)

    def _created_at(self) -> str:
        return rfc3339(self._now_ns(), local=False)

    def _chunk(
        self,
        model: str,
        chat: bool,
        content: str = "",
        thinking: str = "",
        *,
        done: bool = False,
        tail: dict | None = None,
    ) -> dict:
        """A ``ChatResponse`` or ``GenerateResponse`` in Go's field order."""
        chunk: dict = {"model": model, "created_at": self._created_at()}
        if chat:
            message = {"role": "assistant", "content": content}
            if thinking:
                message["thinking"] = thinking
            chunk["message"] = message
        else:
            chunk["response"] = content
            if thinking:
                chunk["thinking"] = thinking
        chunk["done"] = done
        if tail:
            chunk.update(tail)
        return chunk

    async def _acquire(
        self,
        conn: Connection,
        spec: ModelSpec,
        num_ctx: int,
        num_gpu: int,
        keep_alive_s: float | None,
    ) -> tuple[Runner, int]:
        """A runner with one more request on it, once loaded; and the load time in ns."""
        start_ns = time.perf_counter_ns()
        while True:
            runner = self._scheduler.claim(spec, num_ctx, num_gpu, keep_alive_s)
            if runner is not None:
                break
            if await conn.pause(0.01):
                raise ClientGoneError
        try:
            wait_s = runner.ready_at - time.perf_counter()
            if wait_s > 0 and await conn.pause(wait_s):
                raise ClientGoneError
        except BaseException:
            self._scheduler.release(runner)
            raise
        return runner, time.perf_counter_ns() - start_ns

    @staticmethod
    def _prompt_tokens(body: dict, chat: bool) -> int:
        if chat:
            count = 1 + 3
            for message in body.get("messages") or []:
                count += 4 + len(tokenize(str(message.get("content") or "")))
            return count
        text = str(body.get("prompt") or "") + str(body.get("system") or "")
        return 1 + 8 + len(tokenize(text))

    async def _fault(self, conn: Connection, log: dict, sent: int, stream: bool) -> str | None:
        """Apply a fault due after ``sent`` tokens; returns ``"error"`` when the reply must end."""
        faults = self._faults()
        if faults.stall_after_tokens is not None and sent >= faults.stall_after_tokens:
            log["fault"] = "stall"
            await conn.gone.wait()
            raise ClientGoneError
        if faults.drop_after_tokens is not None and sent >= faults.drop_after_tokens:
            log["fault"] = "drop"
            conn.drop(reset=faults.drop_with_reset)
            raise DroppedError
        if faults.error_after_tokens is not None and sent >= faults.error_after_tokens:
            log["fault"] = "error"
            if not stream:
                raise HttpError(500, faults.error_message)
            await conn.send_line({"error": faults.error_message})
            await conn.end_stream()
            return "error"
        if (
            stream
            and faults.malformed_after_tokens is not None
            and sent == faults.malformed_after_tokens
        ):
            log["fault"] = "malformed"
            whole = go_json({"model": log["model"], "created_at": self._created_at()})
            await conn.send_line(whole[: len(whole) // 2] + b"\n")
        return None

    def _reply_plan(
        self, prompt: str, options: Mapping, *, thinking: bool
    ) -> tuple[list[tuple[bool, str]], str]:
        """The tokens to stream, (is thinking, text) each, cut at ``num_predict``; done_reason."""
        seed = options.get("seed")
        seed = self.seed if not isinstance(seed, int) or isinstance(seed, bool) else seed
        plan = [(True, t) for t in tokenize(canned_thinking(prompt, seed))] if thinking else []
        plan += [(False, t) for t in tokenize(canned_reply(prompt, seed))]
        num_predict = int_option(options, "num_predict", -1)
        if 0 < num_predict < len(plan):
            return plan[:num_predict], "length"
        return plan, "stop"

    async def _generate(
        self,
        conn: Connection,
        runner: Runner,
        log: dict,
        *,
        chat: bool,
        model: str,
        body: dict,
        prompt: str,
        thinking: bool,
        stream: bool,
        options: Mapping,
        started_ns: int,
        load_ns: int,
    ) -> bool:
        plan, done_reason = self._reply_plan(prompt, options, thinking=thinking)
        prompt_count = min(self._prompt_tokens(body, chat), runner.num_ctx)

        self._scheduler.enter_phase(runner, "prompt")
        prompt_start = time.perf_counter_ns()
        if await conn.pause(prompt_count * runner.prompt_s_per_token / self._scheduler.speed):
            raise ClientGoneError
        prompt_ns = time.perf_counter_ns() - prompt_start

        self._scheduler.enter_phase(runner, "generate")
        faults = self._faults()
        if faults.tokens_per_s:
            interval = 1.0 / faults.tokens_per_s
        else:
            interval = runner.generation_s_per_token / self._scheduler.speed
        content: list[str] = []
        thought: list[str] = []
        sent = 0
        eval_start = time.perf_counter()
        log["generating_at"] = time.monotonic()
        for index, (is_thought, token) in enumerate(plan):
            if await self._fault(conn, log, sent, stream) == "error":
                return True
            wait_s = eval_start + (index + 1) * interval - time.perf_counter()
            if await conn.pause(wait_s):
                raise ClientGoneError
            if runner.unloaded:  # unloaded under it (in-process unload)
                if not stream:
                    raise HttpError(500, UNEXPECTED_EOF)
                await conn.send_line({"error": UNEXPECTED_EOF})
                await conn.end_stream()
                return True
            (thought if is_thought else content).append(token)
            if stream and is_thought:
                await conn.send_line(self._chunk(model, chat, thinking=token))
            elif stream:
                await conn.send_line(self._chunk(model, chat, content=token))
            sent += 1
            log["tokens_sent"] = sent
        if await self._fault(conn, log, sent, stream) == "error":
            return True
        eval_ns = int((time.perf_counter() - eval_start) * 1e9)
        log["eval_duration_ns"] = eval_ns  # what the final chunk reports, for tests to compare

        tail = self._final_tail(
            runner,
            done_reason,
            chat=chat,
            body=body,
            prompt=prompt,
            generated=thought + content,
            metrics={
                "total_duration": time.perf_counter_ns() - started_ns,
                "load_duration": load_ns,
                "prompt_eval_count": prompt_count,
                "prompt_eval_duration": prompt_ns,
                "eval_count": sent,
                "eval_duration": eval_ns,
            },
        )
        if stream:
            await conn.send_line(self._chunk(model, chat, done=True, tail=tail))
            log["finished_at"] = time.monotonic()
            return await conn.end_stream()
        final = self._chunk(model, chat, "".join(content), "".join(thought), done=True, tail=tail)
        await conn.send_json(200, final)
        return True

    @staticmethod
    def _final_tail(
        runner: Runner,
        done_reason: str,
        *,
        chat: bool,
        body: dict,
        prompt: str,
        generated: list[str],
        metrics: dict[str, int],
    ) -> dict:
        """The final chunk's fields after ``done``: reason, context, the six metrics."""
        tail = _reason(done_reason)
        if not chat:
            tokens = tokenize(str(body.get("system") or "") + prompt) + generated
            tail["context"] = token_ids(tokens, runner.spec.vocab_size)
        tail.update({key: value for key, value in metrics.items() if value})  # omitempty
        return tail
