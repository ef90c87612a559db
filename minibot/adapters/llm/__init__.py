"""The LLM adapter: the LanguageModel port over llm-async, its retry policy and pricing."""

from __future__ import annotations

from minibot.adapters.llm.llm_async_model import LlmAsyncModel
from minibot.adapters.llm.pricing import cost_usd
from minibot.adapters.llm.retry_policy import RetryPolicy

__all__ = ["LlmAsyncModel", "RetryPolicy", "cost_usd"]
