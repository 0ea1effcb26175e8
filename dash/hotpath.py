"""Prepared statements for the device intake's few hot queries.

Django binds parameters on the client, so PostgreSQL parses and plans every statement again.
For the two or three statements each device event runs, a server-side prepared statement
saves that work (the context query joins four tables). Other backends (SQLite, for the
embedded mode) go through Django's cursor as usual."""

from contextlib import contextmanager

import psycopg
from django.db import DEFAULT_DB_ALIAS, connections


@contextmanager
def hot_cursor():
    """A cursor whose `execute(sql, params)` prepares the statement on PostgreSQL.

    It runs on Django's own connection, so it takes part in the current transaction; it skips
    Django's cursor wrapper, so these statements are not in `connection.queries` (DEBUG)."""
    conn = connections[DEFAULT_DB_ALIAS]  # once: each `connection.x` is a thread-local lookup
    if conn.vendor != "postgresql":
        with conn.cursor() as cursor:
            yield cursor
        return
    conn.ensure_connection()
    with conn.wrap_database_errors, psycopg.Cursor(conn.connection) as cursor:
        yield _Prepared(cursor)


class _Prepared:
    def __init__(self, cursor):
        self._cursor = cursor

    def execute(self, sql: str, params) -> None:
        self._cursor.execute(sql, params, prepare=True)

    def fetchone(self):
        return self._cursor.fetchone()
