"""SQLAlchemy persistence: conversation memory, usage, inbox, delivery ledger, notes."""

from minibot.adapters.memory.conversation_memory import SqlConversationMemory
from minibot.adapters.memory.database import DEFAULT_URL, SqlDatabase
from minibot.adapters.memory.delivery_ledger import SqlDeliveryLedger
from minibot.adapters.memory.inbox import SqlInbox
from minibot.adapters.memory.note_store import SqlNoteStore
from minibot.adapters.memory.usage_ledger import SqlUsageLedger

__all__ = [
    "DEFAULT_URL",
    "SqlConversationMemory",
    "SqlDatabase",
    "SqlDeliveryLedger",
    "SqlInbox",
    "SqlNoteStore",
    "SqlUsageLedger",
]
