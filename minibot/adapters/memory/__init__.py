"""SQLAlchemy persistence: conversation memory, usage, inbox, delivery ledger, notes."""
