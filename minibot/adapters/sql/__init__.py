"""SQLAlchemy persistence: conversation memory, usage, inbox, delivery ledger, notes."""

from minibot.adapters.sql.conversation_memory import SqlConversationMemory
from minibot.adapters.sql.database import DEFAULT_URL, SqlDatabase
from minibot.adapters.sql.delivery_ledger import SqlDeliveryLedger
from minibot.adapters.sql.inbox import SqlInbox
from minibot.adapters.sql.note_store import SqlNoteStore
from minibot.adapters.sql.usage_ledger import SqlUsageLedger

__all__ = [
    "DEFAULT_URL",
    "SqlConversationMemory",
    "SqlDatabase",
    "SqlDeliveryLedger",
    "SqlInbox",
    "SqlNoteStore",
    "SqlUsageLedger",
]
