"""A loopback fake of the OpenAI API (chat completions and responses), scriptable for tests."""

from __future__ import annotations

import argparse
import asyncio
import base64
import collections
import contextlib
import json
import zlib
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.fakes.standalone import serve_until_signalled

SSE_HEADERS = {"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}


@dataclass(frozen=True, slots=True)
class Script:
    """One scripted answer; the next request consumes it. Unscripted requests get an echo."""

    text: str | None = None  # None: "echo: <last user message>"
    tool_calls: tuple[tuple[str, str], ...] = ()  # (name, arguments as JSON text)
    status: int | None = None  # answer with this HTTP error instead
    retry_after: str | None = None
    delay_seconds: float = 0.0  # wait this long before answering
    cut_after_chunks: int | None = None  # stream only: drop the connection after N chunks
    drop_connection: bool = False  # drop the connection before any response
    report_usage: bool = True
    # Chat completions, whole answers: finish_reason "length" (the answer hit max_tokens).
    truncated: bool = False
    chunk_delay_seconds: float = 0.0  # stream only: wait this long before each chunk
    # Answer with the last tool result in the prompt (chat completions), as a model that
    # reports what a tool said.
    quote_tool_result: bool = False

    @classmethod
    def reply(cls, text: str) -> Script:
        return cls(text=text)

    @classmethod
    def streamed_slowly(cls, text: str, chunk_delay_seconds: float) -> Script:
        return cls(text=text, chunk_delay_seconds=chunk_delay_seconds)

    @classmethod
    def quoting_tool_result(cls) -> Script:
        return cls(quote_tool_result=True)

    @classmethod
    def tool_call(cls, name: str, arguments: str, *more: tuple[str, str]) -> Script:
        return cls(text="", tool_calls=((name, arguments), *more))

    @classmethod
    def error(cls, status: int, *, retry_after: str | None = None) -> Script:
        return cls(status=status, retry_after=retry_after)

    @classmethod
    def slow(cls, delay_seconds: float) -> Script:
        return cls(delay_seconds=delay_seconds)

    @classmethod
    def cut_stream(cls, after_chunks: int, text: str | None = None) -> Script:
        return cls(text=text, cut_after_chunks=after_chunks)

    @classmethod
    def drop(cls) -> Script:
        return cls(drop_connection=True)


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    path: str
    body: dict[str, Any]
    headers: dict[str, str]
    client: str = ""  # the client's address and port: one per TCP connection


@dataclass(frozen=True, slots=True)
class Answer:
    """What the fake answered (successfully), with the usage it reported."""

    text: str
    prompt_tokens: int
    completion_tokens: int


@dataclass
class FakeOpenAIServer:
    """aiohttp server on 127.0.0.1; `base_url` ends in /v1 like the real API."""

    latency_ms: float = 0.0
    host: str = "127.0.0.1"
    port: int = 0
    # Set: GET /v1/models answers 401 to any other bearer key, as the real API does.
    api_key: str | None = None
    models: tuple[str, ...] = ("gpt-4o-mini", "gpt-4o")
    requests: list[RecordedRequest] = field(default_factory=list)
    answers: list[Answer] = field(default_factory=list)
    in_flight: int = 0
    max_in_flight: int = 0
    _scripts: collections.deque[Script] = field(default_factory=collections.deque)
    # The audio and image endpoints: what they were asked, what they answer next.
    media_requests: list[RecordedRequest] = field(default_factory=list)
    transcripts: collections.deque[str] = field(default_factory=collections.deque)
    media_faults: dict[str, collections.deque[int]] = field(
        default_factory=lambda: collections.defaultdict(collections.deque)
    )
    _runner: web.AppRunner | None = None
    _closing: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    def script(self, *items: Script) -> None:
        self._scripts.extend(items)

    async def start(self) -> str:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_post("/v1/responses", self._responses)
        app.router.add_get("/v1/models", self._models)
        app.router.add_post("/v1/audio/transcriptions", self._transcriptions)
        app.router.add_post("/v1/audio/speech", self._speech)
        app.router.add_post("/v1/images/generations", self._images)
        app.router.add_get("/_control/stats", self._stats)
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self.base_url

    async def stop(self) -> None:
        self._closing.set()  # cuts scripted delays short so shutdown need not wait them out
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    async def _pause(self, seconds: float) -> None:
        if seconds > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closing.wait(), seconds)

    async def _stats(self, request: web.Request) -> web.Response:
        """Counts for a process driving this fake from outside; `?reset=1` clears them."""
        sizes = [len(r.body.get("messages", r.body.get("input", []))) for r in self.requests]
        chars = [
            len(json.dumps(r.body.get("messages", r.body.get("input", [])))) for r in self.requests
        ]
        stats = {
            "requests": len(self.requests),
            "answers": len(self.answers),
            "max_in_flight": self.max_in_flight,
            "connections": len({r.client for r in self.requests}),
            "history_messages": sizes,
            "history_chars": chars,
        }
        if request.query.get("reset"):
            self.requests.clear()
            self.answers.clear()
            self.max_in_flight = self.in_flight
        return web.json_response(stats)

    async def _models(self, request: web.Request) -> web.Response:
        if self.api_key is not None and request.headers.get("Authorization") != (
            f"Bearer {self.api_key}"
        ):
            error = {"error": {"message": "Incorrect API key provided", "code": "invalid_api_key"}}
            return web.json_response(error, status=401)
        data = [{"id": name, "object": "model", "owned_by": "fake"} for name in self.models]
        return web.json_response({"object": "list", "data": data})

    def fail_media(self, endpoint: str, status: int = 500, *, times: int = 1) -> None:
        """The next `times` requests to `endpoint` (transcriptions, speech, generations)
        answer `status`."""
        self.media_faults[endpoint].extend([status] * times)

    def media_calls(self, endpoint: str) -> list[RecordedRequest]:
        return [r for r in self.media_requests if r.path.endswith(f"/{endpoint}")]

    def _media_fault(self, endpoint: str) -> web.Response | None:
        faults = self.media_faults.get(endpoint)
        if faults:
            status = faults.popleft()
            error = {"error": {"message": f"scripted {status}", "type": "fake"}}
            return web.json_response(error, status=status)
        return None

    async def _transcriptions(self, request: web.Request) -> web.Response:
        """Whisper's API: a multipart form with `file` and `model`; answers JSON text."""
        form = await request.post()
        upload = form.get("file")
        body: dict[str, Any] = {k: v for k, v in form.items() if isinstance(v, str)}
        if isinstance(upload, web.FileField):
            data = upload.file.read()
            body |= {"file_name": upload.filename, "file_bytes": data}
        self.media_requests.append(RecordedRequest(request.path, body, dict(request.headers)))
        fault = self._media_fault("transcriptions")
        if fault is not None:
            return fault
        if "file_bytes" not in body or "model" not in body:
            error = {"error": {"message": "file and model are required", "type": "invalid"}}
            return web.json_response(error, status=400)
        text = self.transcripts.popleft() if self.transcripts else "hello from a voice note"
        return web.json_response({"text": text})

    async def _speech(self, request: web.Request) -> web.Response:
        """Text to speech: answers an OGG/Opus stream when `response_format` is opus."""
        body = await request.json()
        self.media_requests.append(RecordedRequest(request.path, body, dict(request.headers)))
        fault = self._media_fault("speech")
        if fault is not None:
            return fault
        if not body.get("input") or not body.get("voice"):
            error = {"error": {"message": "input and voice are required", "type": "invalid"}}
            return web.json_response(error, status=400)
        kind = "audio/ogg" if body.get("response_format") == "opus" else "audio/mpeg"
        return web.Response(body=ogg_opus_bytes(), content_type=kind)

    async def _images(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.media_requests.append(RecordedRequest(request.path, body, dict(request.headers)))
        fault = self._media_fault("generations")
        if fault is not None:
            return fault
        if not body.get("prompt"):
            error = {"error": {"message": "prompt is required", "type": "invalid"}}
            return web.json_response(error, status=400)
        image = base64.b64encode(png_bytes()).decode("ascii")
        return web.json_response({"created": 1, "data": [{"b64_json": image}]})

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        return await self._serve(request, _ChatFormat())

    async def _responses(self, request: web.Request) -> web.StreamResponse:
        return await self._serve(request, _ResponsesFormat())

    async def _serve(self, request: web.Request, fmt: _Format) -> web.StreamResponse:
        body = await request.json()
        peer = request.transport.get_extra_info("peername") if request.transport else None
        client = f"{peer[0]}:{peer[1]}" if peer else ""
        self.requests.append(RecordedRequest(request.path, body, dict(request.headers), client))
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            script = self._scripts.popleft() if self._scripts else Script()
            await self._pause(self.latency_ms / 1000 + script.delay_seconds)
            if script.drop_connection:
                return _drop(request)
            if script.status is not None:
                headers = {"Retry-After": script.retry_after} if script.retry_after else {}
                error = {"error": {"message": f"scripted {script.status}", "type": "fake"}}
                return web.json_response(error, status=script.status, headers=headers)
            prompt_text = fmt.prompt_text(body)
            text = script.text if script.text is not None else f"echo: {fmt.last_user(body)}"
            if script.quote_tool_result:
                tools = [m for m in body.get("messages", ()) if m.get("role") == "tool"]
                text = f"the tool said: {tools[-1]['content'] if tools else 'nothing'}"
            calls_text = "".join(name + args for name, args in script.tool_calls)
            answer = Answer(text, len(prompt_text) // 4, len(text + calls_text) // 4)
            usage = answer if script.report_usage else None
            if body.get("stream"):
                return await self._stream(request, fmt, body, script, answer, usage)
            self.answers.append(answer)
            reply = fmt.whole(body, text, script.tool_calls, usage)
            if script.truncated and "choices" in reply:
                reply["choices"][0]["finish_reason"] = "length"
            return web.json_response(reply)
        finally:
            self.in_flight -= 1

    async def _stream(
        self,
        request: web.Request,
        fmt: _Format,
        body: dict[str, Any],
        script: Script,
        answer: Answer,
        usage: Answer | None,
    ) -> web.StreamResponse:
        response = web.StreamResponse(headers=SSE_HEADERS)
        await response.prepare(request)
        events = fmt.events(body, answer.text, script.tool_calls, usage)
        for index, event in enumerate(events):
            if script.cut_after_chunks is not None and index >= script.cut_after_chunks:
                return _drop(request, response)
            if script.chunk_delay_seconds:
                await asyncio.sleep(script.chunk_delay_seconds)
            await response.write(event.encode())
        self.answers.append(answer)
        await response.write_eof()
        return response


def _ogg_crc(data: bytes) -> int:
    crc = 0
    for byte in data:
        crc ^= byte << 24
        for _ in range(8):
            crc = ((crc << 1) ^ 0x04C11DB7) if crc & 0x80000000 else crc << 1
            crc &= 0xFFFFFFFF
    return crc


def _ogg_page(packet: bytes, *, sequence: int, header_type: int) -> bytes:
    segments = bytes([255] * (len(packet) // 255) + [len(packet) % 255])
    head = (
        b"OggS"
        + bytes([0, header_type])
        + (0).to_bytes(8, "little")  # granule position
        + (0x6D696E69).to_bytes(4, "little")  # stream serial
        + sequence.to_bytes(4, "little")
        + b"\0\0\0\0"  # CRC, filled in below
        + bytes([len(segments)])
        + segments
    )
    page = head + packet
    crc = _ogg_crc(page)
    return page[:22] + crc.to_bytes(4, "little") + page[26:]


def ogg_opus_bytes() -> bytes:
    """A short OGG/Opus stream's header pages (OpusHead, OpusTags), as a TTS answers."""
    opus_head = b"OpusHead" + bytes([1, 1]) + (312).to_bytes(2, "little")
    opus_head += (48000).to_bytes(4, "little") + b"\0\0" + bytes([0])
    opus_tags = b"OpusTags" + (4).to_bytes(4, "little") + b"fake" + (0).to_bytes(4, "little")
    return _ogg_page(opus_head, sequence=0, header_type=2) + _ogg_page(
        opus_tags, sequence=1, header_type=0
    )


def png_bytes() -> bytes:
    """A 1x1 PNG, as an image API answers (base64 in JSON)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return len(data).to_bytes(4, "big") + body + zlib.crc32(body).to_bytes(4, "big")

    header = (1).to_bytes(4, "big") + (1).to_bytes(4, "big") + bytes([8, 2, 0, 0, 0])
    pixels = zlib.compress(b"\0\xff\x80\x00")
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


def _drop(request: web.Request, response: web.StreamResponse | None = None) -> web.StreamResponse:
    # Closing the socket under aiohttp mimics a proxy or server that died mid-answer.
    if request.transport is not None:
        request.transport.close()
    return response if response is not None else web.Response()


def _pieces(text: str) -> list[str]:
    """Split the way models stream: a word with its following space per chunk."""
    words = text.split(" ")
    return [w + " " for w in words[:-1]] + [words[-1]] if text else []


def _sse(data: dict[str, Any], event: str | None = None) -> str:
    prefix = f"event: {event}\n" if event else ""
    return f"{prefix}data: {json.dumps(data)}\n\n"


class _Format:
    def last_user(self, body: dict[str, Any]) -> str:
        raise NotImplementedError

    def prompt_text(self, body: dict[str, Any]) -> str:
        raise NotImplementedError

    def whole(self, body: dict[str, Any], text: str, calls: Any, usage: Answer | None) -> Any:
        raise NotImplementedError

    def events(
        self, body: dict[str, Any], text: str, calls: Any, usage: Answer | None
    ) -> list[str]:
        raise NotImplementedError


def _content_text(content: Any) -> str:
    if isinstance(content, list):
        return "".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return str(content or "")


class _ChatFormat(_Format):
    def last_user(self, body: dict[str, Any]) -> str:
        users = [m for m in body.get("messages", []) if m.get("role") == "user"]
        return _content_text(users[-1].get("content")) if users else ""

    def prompt_text(self, body: dict[str, Any]) -> str:
        return "".join(_content_text(m.get("content")) for m in body.get("messages", []))

    @staticmethod
    def _calls(calls: tuple[tuple[str, str], ...]) -> list[dict[str, Any]]:
        return [
            {"id": f"call_{i}", "type": "function", "function": {"name": n, "arguments": a}}
            for i, (n, a) in enumerate(calls)
        ]

    def whole(self, body: dict[str, Any], text: str, calls: Any, usage: Answer | None) -> Any:
        message: dict[str, Any] = {"role": "assistant", "content": text}
        if calls:
            message["tool_calls"] = self._calls(calls)
        reply: dict[str, Any] = {
            "id": "chatcmpl-fake",
            "object": "chat.completion",
            "model": body.get("model", ""),
            "choices": [
                {"index": 0, "message": message, "finish_reason": "tool_calls" if calls else "stop"}
            ],
        }
        if usage is not None:
            reply["usage"] = _chat_usage(usage)
        return reply

    def events(
        self, body: dict[str, Any], text: str, calls: Any, usage: Answer | None
    ) -> list[str]:
        model = body.get("model", "")

        def chunk(delta: dict[str, Any], finish: str | None = None) -> str:
            choice = {"index": 0, "delta": delta, "finish_reason": finish}
            return _sse({"id": "chatcmpl-fake", "model": model, "choices": [choice]})

        out = [chunk({"role": "assistant", "content": ""})]
        out += [chunk({"content": piece}) for piece in _pieces(text)]
        for i, call in enumerate(self._calls(calls)):
            # Real servers send the name first and the arguments in fragments after it.
            head = {"index": i, "id": call["id"], "type": "function"}
            args = call["function"]["arguments"]
            out.append(
                chunk(
                    {
                        "tool_calls": [
                            {
                                **head,
                                "function": {"name": call["function"]["name"], "arguments": ""},
                            }
                        ]
                    }
                )
            )
            for start in range(0, len(args), 8):
                frag = {"index": i, "function": {"arguments": args[start : start + 8]}}
                out.append(chunk({"tool_calls": [frag]}))
        out.append(chunk({}, "tool_calls" if calls else "stop"))
        include_usage = (body.get("stream_options") or {}).get("include_usage")
        if usage is not None and include_usage:
            out.append(_sse({"id": "chatcmpl-fake", "choices": [], "usage": _chat_usage(usage)}))
        out.append("data: [DONE]\n\n")
        return out


def _chat_usage(usage: Answer) -> dict[str, int]:
    total = usage.prompt_tokens + usage.completion_tokens
    return {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": total,
    }


class _ResponsesFormat(_Format):
    def _items(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        data = body.get("input", "")
        return [{"role": "user", "content": data}] if isinstance(data, str) else list(data)

    def last_user(self, body: dict[str, Any]) -> str:
        users = [m for m in self._items(body) if m.get("role") == "user"]
        return _content_text(users[-1].get("content")) if users else ""

    def prompt_text(self, body: dict[str, Any]) -> str:
        texts = [_content_text(m.get("content", m.get("output"))) for m in self._items(body)]
        return str(body.get("instructions") or "") + "".join(texts)

    def _output(self, text: str, calls: tuple[tuple[str, str], ...]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        if text:
            content = [{"type": "output_text", "text": text, "annotations": []}]
            out.append({"type": "message", "id": "msg_0", "role": "assistant", "content": content})
        for i, (name, args) in enumerate(calls):
            out.append(
                {
                    "type": "function_call",
                    "id": f"fc_{i}",
                    "call_id": f"call_{i}",
                    "name": name,
                    "arguments": args,
                }
            )
        return out

    def whole(self, body: dict[str, Any], text: str, calls: Any, usage: Answer | None) -> Any:
        reply: dict[str, Any] = {
            "id": "resp_fake",
            "object": "response",
            "model": body.get("model", ""),
            "output": self._output(text, calls),
        }
        if usage is not None:
            reply["usage"] = {
                "input_tokens": usage.prompt_tokens,
                "output_tokens": usage.completion_tokens,
                "total_tokens": usage.prompt_tokens + usage.completion_tokens,
            }
        return reply

    def events(
        self, body: dict[str, Any], text: str, calls: Any, usage: Answer | None
    ) -> list[str]:
        out = [_sse({"type": "response.created"}, "response.created")]
        for piece in _pieces(text):
            kind = "response.output_text.delta"
            out.append(_sse({"type": kind, "output_index": 0, "delta": piece}, kind))
        for item in self._output(text, calls):
            kind = "response.output_item.done"
            out.append(_sse({"type": kind, "item": item}, kind))
        done = {"type": "response.completed", "response": self.whole(body, text, calls, usage)}
        out.append(_sse(done, "response.completed"))
        return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--latency-ms", type=float, default=0.0)
    args = parser.parse_args()
    asyncio.run(serve_until_signalled(FakeOpenAIServer(latency_ms=args.latency_ms, port=args.port)))


if __name__ == "__main__":
    main()
