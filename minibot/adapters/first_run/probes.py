"""Asks the real services whether a credential works: a models request, Telegram's getMe,
Slack's auth.test. Used by `minibot init` before writing and by `minibot doctor`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import aiohttp

PROBE_TIMEOUT_SECONDS = 15.0

# Each provider's own API root, as llm-async uses it when `[llm] base_url` is empty.
DEFAULT_BASES = {
    "openai": "https://api.openai.com/v1",
    "openai_responses": "https://api.openai.com/v1",
    "openrouter": "https://openrouter.ai/api/v1",
    "claude": "https://api.anthropic.com/v1",
    "google": "https://generativelanguage.googleapis.com/v1beta",
}


@dataclass(frozen=True, slots=True)
class Probe:
    """What a service said about a credential: `ok`, and a line to show the person."""

    ok: bool
    detail: str


async def probe_model(provider: str, model: str, api_key: str, base_url: str = "") -> Probe:
    """Lists the provider's models with the key: a 401/403 means a wrong key; a model the
    list does not hold is named (an empty list, as some local servers give, passes)."""
    base = (base_url or DEFAULT_BASES[provider]).rstrip("/")
    if base.endswith("/models"):  # llm-async's Google base ends in /models/
        base = base.removesuffix("/models")
    headers: dict[str, str] = {}
    if provider == "claude":
        headers = {"x-api-key": api_key, "anthropic-version": "2023-06-01"}
    elif provider == "google":
        headers = {"x-goog-api-key": api_key}
    elif api_key:
        headers = {"Authorization": f"Bearer {api_key}"}
    if provider == "openrouter":
        # OpenRouter lists models to anyone: its key endpoint is what checks the key.
        refused = await _get(
            f"{base}/key",
            headers,
        )
        if refused.status != 200:
            return Probe(False, _refusal("the provider", refused))
    answer = await _get(
        f"{base}/models",
        headers,
    )
    if answer.status != 200:
        return Probe(False, _refusal("the provider", answer))
    names = _model_names(answer.body)
    if names and model not in names:
        offered = ", ".join(sorted(names)[:8])
        return Probe(False, f"the key works, but the provider offers no model {model!r}: {offered}")
    return Probe(True, f"the key works and {provider} offers {model}")


async def probe_telegram(bot_token: str, api_base: str) -> Probe:
    """getMe with the token: the bot's @username and link, or why it was refused."""
    answer = await _get(
        f"{api_base.rstrip('/')}/bot{bot_token}/getMe",
        {},
    )
    body = answer.body if isinstance(answer.body, dict) else {}
    result = body.get("result") if body.get("ok") else None
    if answer.status != 200 or not isinstance(result, dict):
        return Probe(False, _refusal("Telegram", answer))
    username = str(result.get("username", ""))
    return Probe(True, f"the token belongs to @{username}: https://t.me/{username}")


async def probe_slack(bot_token: str, api_base: str) -> Probe:
    """auth.test with the bot token."""
    url = f"{api_base.rstrip('/')}/auth.test"
    answer = await _get(url, {"Authorization": f"Bearer {bot_token}"}, post=True)
    body = answer.body if isinstance(answer.body, dict) else {}
    if answer.status != 200 or not body.get("ok"):
        error = body.get("error") or answer.reason
        return Probe(False, f"Slack refused the bot token ({error})")
    return Probe(True, f"the token belongs to {body.get('user', '?')} in {body.get('team', '?')}")


@dataclass(frozen=True, slots=True)
class _Answer:
    status: int
    reason: str
    body: Any


async def _get(url: str, headers: dict[str, str], *, post: bool = False) -> _Answer:
    limit = aiohttp.ClientTimeout(total=PROBE_TIMEOUT_SECONDS)
    try:
        async with (
            aiohttp.ClientSession(timeout=limit) as session,
            session.request("POST" if post else "GET", url, headers=headers) as response,
        ):
            try:
                body = await response.json(content_type=None)
            except ValueError:
                body = None
            return _Answer(response.status, response.reason or "", body)
    except (TimeoutError, aiohttp.ClientError, OSError) as exc:
        # The URL is not shown: a Telegram URL carries the token.
        return _Answer(0, f"cannot connect: {type(exc).__name__} {_host(url)}", None)


def _host(url: str) -> str:
    return url.split("://", 1)[-1].split("/", 1)[0]


def _refusal(service: str, answer: _Answer) -> str:
    if answer.status == 0:
        return f"{service} could not be reached ({answer.reason})"
    if answer.status in (401, 403):
        return f"{service} refused the credential ({answer.status} {answer.reason})"
    return f"{service} answered {answer.status} {answer.reason}"


def _model_names(body: Any) -> set[str]:
    items = body.get("data", body.get("models", [])) if isinstance(body, dict) else []
    names: set[str] = set()
    for item in items if isinstance(items, list) else []:
        if isinstance(item, dict):
            name = str(item.get("id") or item.get("name") or "")
            names.add(name.removeprefix("models/"))
    names.discard("")
    return names
