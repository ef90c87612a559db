"""The LanguageModel port over llm-async, with our own retries, timeouts and streaming."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence

from llm_async.providers import BaseProvider  # type: ignore[import-untyped]

from minibot.adapters.config.schema import LLMSettings
from minibot.adapters.llm.completion_parsing import ParsedAnswer, parse_whole
from minibot.adapters.llm.http_failures import StreamBroken, classify_exception
from minibot.adapters.llm.llm_observer import LlmObserver, outcome_of, retry_reason
from minibot.adapters.llm.message_mapping import ProviderRequest, build_request
from minibot.adapters.llm.provider_factory import build_provider, protocol_of
from minibot.adapters.llm.provider_pause import ProviderPause
from minibot.adapters.llm.retry_policy import Failure, FailureKind, RetryPolicy
from minibot.adapters.llm.stream_assembly import StreamAssembler
from minibot.core.conversation import ChatMessage
from minibot.core.errors import (
    LLMAttemptFailed,
    LLMError,
    LLMRejected,
    LLMUnavailable,
    StreamInterrupted,
)
from minibot.core.llm import Completion, TokenUsage, ToolSpec
from minibot.core.ports.language_model import TextSink
from minibot.core.ports.tracer import Span, Tracer
from minibot.core.tokens import estimate_usage
from minibot.core.tracing import NO_TRACER

Sleep = Callable[[float], Awaitable[None]]


class _SinkFailed(Exception):
    """Wraps an error raised by the caller's `on_text`, so it is never mistaken for ours."""


class LlmAsyncModel:
    """Answers through any llm-async provider (see `LanguageModel` for the promises).

    `sleep` and `clock` are injectable so tests of the retry path need not wait. Each
    request is an `llm.request` span of `tracer` (model, attempts, tokens), and its end
    and retries are told to `observer` (metrics).
    """

    def __init__(
        self,
        settings: LLMSettings,
        *,
        sleep: Sleep = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
        policy: RetryPolicy | None = None,
        tracer: Tracer = NO_TRACER,
        observer: LlmObserver | None = None,
    ) -> None:
        self._tracer = tracer
        self._observer = observer
        self._settings = settings
        self._protocol = protocol_of(settings.provider)
        self._sleep = sleep
        self._clock = clock
        self._policy = policy or RetryPolicy(
            max_attempts=settings.max_attempts,
            initial_delay_seconds=settings.retry_initial_delay_seconds,
            max_delay_seconds=settings.retry_max_delay_seconds,
            total_deadline_seconds=settings.total_deadline_seconds,
        )
        self._pause = ProviderPause(clock)
        self._provider: BaseProvider | None = None

    @property
    def model(self) -> str:
        return self._settings.model

    async def start(self) -> None:
        if self._provider is None:
            self._provider = build_provider(self._settings)

    async def stop(self) -> None:
        provider, self._provider = self._provider, None
        if provider is not None:
            await provider.client.aclose()

    async def complete(
        self,
        messages: Sequence[ChatMessage],
        *,
        tools: Sequence[ToolSpec] = (),
        on_text: TextSink | None = None,
    ) -> Completion:
        if self._provider is None:
            raise LLMError("the language model is not started")
        with self._tracer.span("llm.request", {"model": self.model}) as span:
            error: BaseException | None = None
            try:
                completion = await self._complete(messages, tools, on_text, span)
            except BaseException as exc:
                error = exc
                raise
            finally:
                if self._observer is not None and not isinstance(error, asyncio.CancelledError):
                    self._observer.request_finished(self.model, outcome_of(error))
            if completion.usage is not None:
                span.set("tokens.prompt", completion.usage.prompt_tokens)
                span.set("tokens.completion", completion.usage.completion_tokens)
            return completion

    async def _complete(
        self,
        messages: Sequence[ChatMessage],
        tools: Sequence[ToolSpec],
        on_text: TextSink | None,
        span: Span,
    ) -> Completion:
        assert self._provider is not None
        stream = self._settings.stream and on_text is not None
        request = build_request(self._protocol, self._settings, messages, tools, stream=stream)
        started = self._clock()
        attempt = 0
        while True:
            attempt += 1
            span.set("attempt", attempt)
            if self._pause.resume_at is not None:
                await self._wait_out_pause(started)
            remaining = self._settings.total_deadline_seconds - (self._clock() - started)
            timeout = max(0.0, min(self._settings.request_timeout_seconds, remaining))
            assembler = StreamAssembler(self._protocol)
            try:
                if stream and on_text is not None:
                    answer = await self._stream_once(request, assembler, on_text, timeout)
                else:
                    answer = await self._complete_once(request, timeout)
                return self._completion(messages, answer)
            except _SinkFailed as wrapped:
                raise wrapped.__cause__ from None  # type: ignore[misc]
            except LLMAttemptFailed as exc:
                delay = self._after_failure(exc, assembler, attempt, started)
            except LLMError:
                raise
            except Exception as exc:
                # llm-async's and aiosonic's own errors: `classify_exception` sorts them by type.
                delay = self._after_failure(exc, assembler, attempt, started)
            await self._sleep(delay)

    def _after_failure(
        self, exc: Exception, assembler: StreamAssembler, attempt: int, started: float
    ) -> float:
        """How long to wait before the next attempt; raises the final error when there is
        to be none."""
        failure = classify_exception(exc) or Failure(
            FailureKind.REJECTED, f"unexpected answer: {exc!r}"
        )
        self._pause.note(failure)
        if assembler.text:
            # Part of the answer is already on the user's screen: a retry would repeat it.
            raise StreamInterrupted(
                f"stream broke: {failure.description}", partial_text=assembler.text
            ) from exc
        decision = self._policy.decide(
            failure, attempt=attempt, elapsed_seconds=self._clock() - started
        )
        if not decision.retry:
            raise _final_error(failure, attempt) from exc
        if self._observer is not None:
            self._observer.retried(retry_reason(failure))
        return decision.delay_seconds

    async def _wait_out_pause(self, started: float) -> None:
        # A loop: another conversation's 429 may lengthen the pause while this one waits.
        while (delay := self._pause.remaining_seconds()) > 0:
            cause = self._pause.cause
            assert cause is not None  # set whenever a pause is running
            if not self._policy.may_wait(delay, elapsed_seconds=self._clock() - started):
                raise LLMUnavailable(
                    f"LLM request not sent: the provider asked every caller to wait {delay:.1f}s"
                    f" more ({cause.description}), past this request's deadline",
                    status=cause.status,
                    retry_after_seconds=delay,
                )
            await self._sleep(delay)

    async def _complete_once(self, request: ProviderRequest, wait_seconds: float) -> ParsedAnswer:
        assert self._provider is not None
        async with asyncio.timeout(wait_seconds):
            response = await self._provider.acomplete(
                self._settings.model,
                request.messages,
                stream=False,
                tools=request.tools,
                **request.options,
            )
        return parse_whole(self._protocol, response)

    async def _stream_once(
        self,
        request: ProviderRequest,
        assembler: StreamAssembler,
        on_text: TextSink,
        wait_seconds: float,
    ) -> ParsedAnswer:
        assert self._provider is not None
        loop = asyncio.get_running_loop()
        response = await self._provider.acomplete(
            self._settings.model,
            request.messages,
            stream=True,
            tools=request.tools,
            **request.options,
        )
        events = response.stream_generator
        assert events is not None
        try:
            # The timeout bounds each wait for the next event (idle time), not the whole
            # answer: a long answer that keeps flowing is healthy. It is paused while the
            # caller's `on_text` runs, whose pace is not the provider's fault.
            async with asyncio.timeout(None) as idle:
                while True:
                    idle.reschedule(loop.time() + wait_seconds)
                    try:
                        chunk = await anext(events)
                    except StopAsyncIteration:
                        break
                    except LLMError:
                        raise
                    except Exception as exc:
                        if classify_exception(exc) is not None:
                            raise
                        # Mid-stream, aiosonic reports a cut chunked body as a parse error.
                        raise StreamBroken(repr(exc)) from exc
                    idle.reschedule(None)
                    delta = assembler.feed(chunk.original)
                    if delta:
                        try:
                            await on_text(delta)
                        except Exception as exc:
                            raise _SinkFailed() from exc
        finally:
            await events.aclose()
        return assembler.result()

    def _completion(self, messages: Sequence[ChatMessage], answer: ParsedAnswer) -> Completion:
        if answer.usage is not None:
            usage = TokenUsage(*answer.usage)
        else:
            usage = estimate_usage(messages, answer.text, answer.tool_calls)
        return Completion(
            answer.text, answer.tool_calls, usage, answer.model or self.model, answer.truncated
        )


def _final_error(failure: Failure, attempts: int) -> LLMError:
    message = f"LLM request failed after {attempts} attempt(s): {failure.description}"
    if failure.kind is FailureKind.REJECTED and failure.status is not None:
        return LLMRejected(message, status=failure.status)
    return LLMUnavailable(
        message, status=failure.status, retry_after_seconds=failure.retry_after_seconds
    )
