"""What the app answers a person: short texts, kept in one place so they stay consistent."""

from __future__ import annotations

MODEL_UNAVAILABLE = (
    "Sorry, the model is unavailable right now, so I could not answer. "
    "Your message is saved; please try again in a moment."
)
MODEL_REJECTED = (
    "Sorry, the model refused this request (a configuration problem on my side). "
    "Your message is saved; the owner has been told in the logs."
)
STREAM_INTERRUPTED = "[the answer was cut off: the connection to the model dropped]"
INTERNAL_ERROR = "Sorry, something went wrong on my side while handling that. Please try again."
EMPTY_ANSWER = "(the model gave an empty answer)"
STALE_BUTTON = "That button is no longer valid."
STORAGE_UNAVAILABLE = (
    "I can't save that right now (storage is unavailable); please try again later."
)
SUMMARIZED = (
    "(Our conversation got long: I summarized the earlier messages and keep that summary "
    "in mind from now on. /context shows what I read.)"
)
ANSWER_CUT = "(The answer was cut off: it reached the length limit for one answer.)"
STEERED = "(Added to the answer I am writing.)"
INTERRUPTED = "(Stopped: I left this answer unfinished to answer your newer message.)"
INTERRUPTED_MARK = "[interrupted: the person sent a newer message before this answer was done]"


def input_cut(tokens: int, kept_tokens: int) -> str:
    return (
        f"(Your message was too long for me, about {tokens} tokens: I read only its first "
        f"{kept_tokens} tokens.)"
    )
