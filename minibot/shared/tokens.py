"""A cheap token estimate, for when a provider reports none and for history budgets."""

from __future__ import annotations


def estimate_tokens(text: str) -> int:
    # About four characters per token for English text with common tokenizers; good
    # enough to bound a history window, never used for billing when usage is reported.
    return max(1, (len(text) + 3) // 4)
