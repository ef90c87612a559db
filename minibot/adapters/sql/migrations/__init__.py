"""alembic's migrations of the SQL schema: one linear history for SQLite and PostgreSQL."""
