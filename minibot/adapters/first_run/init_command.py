"""`minibot init`: asks for the provider, model, key and Telegram bot, checks each against
the real service, then writes config.toml. Runs from flags alone too (`--non-interactive`)."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from minibot.adapters.first_run.config_file import (
    DEFAULT_TELEGRAM_API,
    PROVIDERS,
    Answers,
    Written,
    write_config,
)

if TYPE_CHECKING:
    from minibot.adapters.first_run.probes import Probe

# The probes (aiohttp) load when init runs: the parser is built for every command.

DEFAULT_MODELS = {
    "openai": "gpt-4o-mini",
    "openai_responses": "gpt-4o-mini",
    "openrouter": "openai/gpt-4o-mini",
    "claude": "claude-3-5-haiku-latest",
    "google": "gemini-2.0-flash",
}
ATTEMPTS = 3  # tries at a refused key or token before init gives up (nothing written)


class InitRefused(Exception):
    """Init stops; nothing was written. The message names the key or flag at fault."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--provider", choices=PROVIDERS, help="the LLM provider")
    parser.add_argument("--model", help="the model name (default: a small one of the provider)")
    parser.add_argument("--api-key", help="the provider's key (checked with a models request)")
    parser.add_argument("--base-url", default=None, help="an OpenAI-compatible server instead")
    parser.add_argument("--telegram-token", help="the bot token from @BotFather (checked: getMe)")
    parser.add_argument("--telegram-api-base", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--owner-id", type=int, help="your Telegram user id (the allowlist)")
    parser.add_argument(
        "--secrets",
        choices=("env", "file"),
        help="env: ${VAR} references with the values in minibot.env (default); file: inline",
    )
    parser.add_argument("--force", action="store_true", help="replace an existing config file")
    parser.add_argument(
        "--non-interactive",
        action="store_true",
        help="ask nothing: flags only (also without a tty)",
    )


@dataclass
class Console:
    """Where init asks and tells; a terminal unless a test says otherwise."""

    ask: Callable[[str], str] = input
    ask_secret: Callable[[str], str] = getpass.getpass
    out: TextIO = sys.stdout

    def say(self, text: str) -> None:
        print(text, file=self.out, flush=True)


def run_init(args: argparse.Namespace, path: Path, console: Console | None = None) -> int:
    console = console or Console()
    interactive = not args.non_interactive and sys.stdin.isatty()
    try:
        if path.exists() and not args.force and not _confirm_replace(path, interactive, console):
            raise InitRefused(f"{path} exists: pass --force to replace it")
        answers = _ask_llm(args, interactive, console)
        answers = _ask_telegram(args, answers, interactive, console)
        written = write_config(answers, path)
    except InitRefused as exc:
        console.say(f"minibot init: {exc}; nothing was written")
        return 1
    except (EOFError, KeyboardInterrupt):
        console.say("\nminibot init: stopped; nothing was written")
        return 1
    _tell_written(written, console)
    return 0


def _confirm_replace(path: Path, interactive: bool, console: Console) -> bool:
    if not interactive:
        return False
    return _yes(console.ask(f"{path} exists. Replace it? [y/N] "), default=False)


def _ask_llm(args: argparse.Namespace, interactive: bool, console: Console) -> Answers:
    provider = args.provider or _choose_provider(interactive, console)
    base_url = args.base_url
    if base_url is None:
        prompt = "OpenAI-compatible server URL (empty: the provider's own): "
        base_url = console.ask(prompt).strip() if interactive else ""
    model = args.model or DEFAULT_MODELS[provider]
    if interactive and not args.model:
        model = console.ask(f"Model [{model}]: ").strip() or model
    key = args.api_key
    for attempt in range(1, ATTEMPTS + 1):
        if key is None:
            if not interactive:
                raise InitRefused("--api-key is required without a terminal (llm.api_key)")
            key = console.ask_secret(f"{provider} API key (hidden): ").strip()
        from minibot.adapters.first_run.probes import probe_model

        probe = asyncio.run(probe_model(provider, model, key, base_url))
        _report("llm.api_key", probe, console)
        if probe.ok:
            break
        if not interactive or attempt == ATTEMPTS or args.api_key is not None:
            raise InitRefused(f"llm.api_key: {probe.detail}")
        key = None
    assert key is not None
    return Answers(provider=provider, model=model, api_key=key, base_url=base_url)


def _choose_provider(interactive: bool, console: Console) -> str:
    if not interactive:
        return "openai"
    choices = ", ".join(PROVIDERS)
    while True:
        provider = console.ask(f"LLM provider ({choices}) [openai]: ").strip() or "openai"
        if provider in PROVIDERS:
            return provider
        console.say(f"  not a provider minibot knows; choose one of {choices}")


def _ask_telegram(
    args: argparse.Namespace, answers: Answers, interactive: bool, console: Console
) -> Answers:
    api_base = args.telegram_api_base or DEFAULT_TELEGRAM_API
    token = args.telegram_token
    if token is None and interactive:
        token = console.ask_secret("Telegram bot token from @BotFather (hidden; empty: skip): ")
    token = (token or "").strip()
    for attempt in range(1, ATTEMPTS + 1):
        if not token:
            break
        from minibot.adapters.first_run.probes import probe_telegram

        probe = asyncio.run(probe_telegram(token, api_base))
        _report("channels.telegram.bot_token", probe, console)
        if probe.ok:
            break
        if not interactive or attempt == ATTEMPTS or args.telegram_token is not None:
            raise InitRefused(f"channels.telegram.bot_token: {probe.detail}")
        token = console.ask_secret("Telegram bot token (hidden; empty: skip): ").strip()
    owner = args.owner_id
    if token and owner is None and interactive:
        owner = _ask_owner(console)
    secrets = args.secrets or ("env" if not interactive else _ask_secrets(console))
    return Answers(
        provider=answers.provider,
        model=answers.model,
        api_key=answers.api_key,
        base_url=answers.base_url,
        telegram_token=token,
        telegram_api_base=api_base,
        owner_id=owner,
        secrets=secrets,
    )


def _ask_owner(console: Console) -> int | None:
    while True:
        text = console.ask(
            "Your Telegram user id, allowed to talk to the bot (@userinfobot tells it; empty: "
            "nobody yet): "
        ).strip()
        if not text:
            return None
        if text.lstrip("-").isdigit():
            return int(text)
        console.say("  a user id is a number, e.g. 123456789")


def _ask_secrets(console: Console) -> str:
    answer = console.ask(
        "Keep the key and token out of config.toml, as ${VAR} references with their values "
        "in minibot.env (mode 600)? [Y/n] "
    )
    return "env" if _yes(answer, default=True) else "file"


def _yes(answer: str, *, default: bool) -> bool:
    answer = answer.strip().lower()
    return default if not answer else answer in ("y", "yes")


def _report(key: str, probe: Probe, console: Console) -> None:
    console.say(f"  {'ok' if probe.ok else 'refused'}: {key}: {probe.detail}")


def _tell_written(written: Written, console: Console) -> None:
    console.say(f"wrote {written.config}")
    if written.env_file is not None:
        names = ", ".join(written.variables)
        console.say(
            f"the secrets ({names}) are in {written.env_file} (mode 600): load them with "
            f"`set -a; . {written.env_file}; set +a` (systemd: EnvironmentFile=, compose: "
            "env_file:)"
        )
    console.say(f"next: `minibot check-config --config {written.config}`, then `minibot doctor`")
