"""Every payload type survives the envelope's JSON form unchanged (a broker may carry it)."""

from __future__ import annotations

import dataclasses
import enum
import json
import types
import typing
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from minibot.core import commands, events
from minibot.core.commands import Command, SendReply
from minibot.core.conversation import ConversationKey
from minibot.core.envelope import Envelope, EnvelopeCodec, ordering_key_of
from minibot.core.events import ButtonPressed, Event, MessageReceived
from minibot.core.messages import Button, IncomingMessage, OutgoingMessage, Sender


def payload_types() -> list[type]:
    """Every event and command of the vocabulary, found by scanning their modules."""
    found = [
        value
        for module, base in ((events, Event), (commands, Command))
        for value in vars(module).values()
        if isinstance(value, type) and issubclass(value, base) and value is not base
    ]
    assert len(found) >= 13, "the vocabulary should be found by scanning core"
    assert SendReply in found
    return found


def sample(hint: Any, seed: int) -> Any:
    """A value of `hint` that differs from any default, so a field lost in transit shows."""
    origin = typing.get_origin(hint)
    if origin is not None:
        return _sample_generic(origin, typing.get_args(hint), seed)
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return list(hint)[-1]
    if dataclasses.is_dataclass(hint):
        hints = typing.get_type_hints(hint)
        fields = dataclasses.fields(hint)
        return hint(**{f.name: sample(hints[f.name], seed + i) for i, f in enumerate(fields)})
    if hint in _SCALAR_SAMPLES:
        return _SCALAR_SAMPLES[hint](seed)
    raise AssertionError(f"no sample for {hint}")


def _sample_generic(origin: Any, args: tuple[Any, ...], seed: int) -> Any:
    if origin is typing.Union or origin is types.UnionType:
        return sample(next(a for a in args if a is not type(None)), seed)
    if origin is tuple:
        return (sample(args[0], seed), sample(args[0], seed + 1))
    if origin is dict:
        return {f"k{seed}": f"v{seed}"}
    raise AssertionError(f"no sample for {origin}{list(args)}")


_SCALAR_SAMPLES: dict[type, Callable[[int], Any]] = {
    # Lone surrogates and non-BMP text must survive as they are.
    str: lambda seed: f"text {seed} \ud800 ✓ 🎉",
    bool: lambda seed: True,
    int: lambda seed: 2**63 + seed,
    float: lambda seed: seed + 0.25,
    # A voice note or photo: any bytes, a NUL and invalid UTF-8 included.
    bytes: lambda seed: bytes([0, 255, seed % 256]) + b"OggS\x00\xc3",
    datetime: lambda seed: datetime(
        2026, 3, 29, 1, 30, seed % 60, tzinfo=timezone(timedelta(hours=2))
    ),
}


@pytest.mark.parametrize("payload_type", payload_types(), ids=lambda t: t.__name__)
def test_every_payload_type_round_trips_through_json(payload_type: type) -> None:
    codec = EnvelopeCodec(payload_types())
    payload = sample(payload_type, 3)
    envelope = Envelope.wrap(
        payload, correlation_id="c0ffee", traceparent="00-" + "a" * 32 + "-" + "b" * 16 + "-01"
    )

    text = codec.dumps(envelope)
    json.loads(text)  # valid JSON, nothing left as a Python object
    assert codec.loads(text) == envelope
    assert codec.loads(text.encode()) == envelope


def test_the_envelope_carries_its_conversation_as_the_ordering_key() -> None:
    key = ConversationKey("telegram", "42")
    sender = Sender("telegram", "7", "Ann")
    message = IncomingMessage(key, sender, "hi", datetime.now(UTC))
    assert Envelope.wrap(MessageReceived(message)).ordering_key == "telegram:42"
    reply = OutgoingMessage(key, "hello", "t1", buttons=(Button("Done", "done:1"),))
    assert Envelope.wrap(SendReply(reply)).ordering_key == "telegram:42"
    assert ordering_key_of(ButtonPressed(key, sender, "done:1")) == "telegram:42"
    assert Envelope.wrap(events.JobDue("j1", datetime.now(UTC))).ordering_key is None


def test_unknown_types_and_versions_are_refused_not_guessed() -> None:
    codec = EnvelopeCodec([MessageReceived])
    job_due = Envelope.wrap(events.JobDue("j1", datetime.now(UTC)))
    with pytest.raises(TypeError, match="JobDue"):
        codec.dumps(job_due)
    text = EnvelopeCodec(payload_types()).dumps(job_due)
    with pytest.raises(ValueError, match="JobDue"):
        codec.loads(text)
    newer = json.loads(text) | {"v": 99}
    with pytest.raises(ValueError, match="version"):
        EnvelopeCodec(payload_types()).loads(json.dumps(newer))


def test_a_payload_of_the_wrong_shape_is_refused() -> None:
    codec = EnvelopeCodec(payload_types())
    body = json.loads(codec.dumps(Envelope.wrap(events.JobDue("j1", datetime.now(UTC)))))
    body["payload"]["occurrence"] = 12
    with pytest.raises((TypeError, ValueError)):
        codec.loads(json.dumps(body))


def test_every_envelope_gets_its_own_message_id() -> None:
    job_due = events.JobDue("j1", datetime.now(UTC))
    ids = {Envelope.wrap(job_due).message_id for _ in range(1000)}
    assert len(ids) == 1000
