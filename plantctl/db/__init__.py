"""The database plantctl talks to: the user's (PLANTCTL_DATABASE_URL) or a local one it provisions."""

from plantctl.db.local import LocalDatabase, ProvisionError, database_url

__all__ = ["LocalDatabase", "ProvisionError", "database_url"]
