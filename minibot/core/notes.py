"""Notes: what the assistant was asked to remember, and how notes are matched and ranked."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

# How close a mistyped title must be to an existing one to count as the same note.
TITLE_MATCH_CUTOFF = 0.8

# Word characters as SQLite's unicode61 tokenizer sees them: letters and digits, not "_".
_WORD = re.compile(r"[^\W_]+", re.UNICODE)


@dataclass(frozen=True, slots=True)
class NoteProvenance:
    """Where a note came from: the conversation, message and tool call that saved it.
    `origin` keys that tool call within its turn, the same when the turn runs again."""

    conversation: str | None = None
    message_id: str | None = None
    tool_call_id: str | None = None
    at: datetime | None = None
    origin: str | None = None


@dataclass(frozen=True, slots=True)
class Note:
    """One note of one owner; its title is unique per owner, ignoring case."""

    id: int
    owner_id: str
    title: str
    content: str
    tags: tuple[str, ...] = ()
    metadata: dict[str, Any] = field(default_factory=dict, hash=False)
    provenance: NoteProvenance = field(default_factory=NoteProvenance)
    created_at: datetime | None = None
    updated_at: datetime | None = None


def title_key(title: str) -> str:
    """The form under which titles are unique: trimmed, inner spaces collapsed, casefolded,
    control characters dropped (PostgreSQL cannot even compare text holding a NUL)."""
    printable = "".join(ch for ch in title if ch.isprintable() or ch.isspace())
    return " ".join(printable.split()).casefold()


def closest_title(title: str, candidates: Iterable[str]) -> str | None:
    """The candidate that `title` most likely misspells, or None when none is close enough."""
    wanted = title_key(title)
    best: str | None = None
    best_ratio = TITLE_MATCH_CUTOFF
    for candidate in candidates:
        ratio = difflib.SequenceMatcher(None, wanted, title_key(candidate)).ratio()
        if ratio >= best_ratio and (best is None or ratio > best_ratio):
            best, best_ratio = candidate, ratio
    return best


def query_terms(query: str, *, max_terms: int = 16) -> list[str]:
    """The words of a search query, lowercased and deduplicated; all syntax is dropped.

    Only letters and digits survive, so no query can smuggle SQL or FTS operators through.
    """
    seen: dict[str, None] = {}
    for word in _WORD.findall(query.casefold()):
        seen.setdefault(word, None)
    return list(seen)[:max_terms]


def relevance(note: Note, terms: list[str]) -> float:
    """A portable ranking score: matched terms, weighted title > tags > content.

    A term counts as matched when a word of the note starts with it, the same prefix
    semantics as the full-text adapters use.
    """
    title_words = _WORD.findall(note.title.casefold())
    tag_words = [w for tag in note.tags for w in _WORD.findall(tag.casefold())]
    content_words = _WORD.findall(note.content.casefold())
    score = 0.0
    for term in terms:
        hit = 0.0
        if any(w.startswith(term) for w in title_words):
            hit += 3.0
        if any(w.startswith(term) for w in tag_words):
            hit += 2.0
        matches = sum(1 for w in content_words if w.startswith(term))
        if matches:
            hit += 1.0 + min(matches, 5) * 0.1
        if hit:
            # Matching more distinct terms always beats matching one term in many places.
            score += 10.0 + hit
    return score
