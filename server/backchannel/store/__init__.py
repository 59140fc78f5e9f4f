"""Postgres: the only state. Every SQL statement lives in this package's ``sql/`` and
``migrations/`` folders; the rest of the server calls the named functions here."""
