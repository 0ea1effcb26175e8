"""Prepared statements for the device intake's few hot queries.

Django binds parameters on the client, so PostgreSQL parses and plans every statement again.
For the two or three statements each device event runs, a server-side prepared statement
saves that work (the context query joins four tables). Other backends (SQLite, for the
embedded mode) go through Django's cursor as usual.

On PostgreSQL the statements go straight to libpq (`psycopg.pq`: prepare once per connection,
then `exec_prepared`), with values turned into text by `_text` and the row read by the
connection's own loaders, the ones a psycopg cursor would pick. A cursor's execute costs about
three times as much Python (measured: 0.125 ms against 0.044 ms a statement), and those few
statements are most of an event's CPU. Where libpq alone would not do the same as a cursor
(a transaction psycopg has yet to open, a failed one, a parameter type `_text` doesn't know,
DASH_PG_PREPARE=false), the statement runs on a psycopg cursor instead."""

import hashlib
import uuid
import weakref
from contextlib import contextmanager
from datetime import date, datetime
from decimal import Decimal

import psycopg
from django.db import DEFAULT_DB_ALIAS, connections
from psycopg import pq
from psycopg.errors import InvalidSqlStatementName, error_from_result
from psycopg.types.json import Jsonb

_OK = (pq.ExecStatus.TUPLES_OK, pq.ExecStatus.COMMAND_OK)
# libpq's own prepared statements, per psycopg connection: their names, and the loaders of each
# one's result columns (a new connection, after a restart, prepares again).
_prepared: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_names: dict[str, tuple[bytes, bytes]] = {}  # SQL with %s -> (its statement's name, its text with $n)


@contextmanager
def hot_cursor():
    """A cursor whose `execute(sql, params)` prepares the statement on PostgreSQL. For a few
    fixed statements: each distinct text stays prepared for the life of the connection.

    It runs on Django's own connection, so it takes part in the current transaction; it skips
    Django's cursor wrapper, so these statements are not in `connection.queries` (DEBUG)."""
    conn = connections[DEFAULT_DB_ALIAS]  # once: each `connection.x` is a thread-local lookup
    if conn.vendor != "postgresql":
        with conn.cursor() as cursor:
            yield cursor
        return
    conn.ensure_connection()
    with conn.wrap_database_errors:
        statement = _Prepared(conn.connection)
        try:
            yield statement
        finally:
            statement.close()


class _Prepared:
    def __init__(self, pgc: psycopg.Connection):
        self._pgc = pgc
        self._cursor = None
        self._row = None
        self._on_cursor = False  # the last statement ran on the psycopg cursor

    def execute(self, sql: str, params) -> None:
        self._row = None
        values = _libpq_values(self._pgc, params)
        self._on_cursor = values is None
        if values is None:
            self._cursor_execute(sql, params)
            return
        name, command = _statement(sql)
        state = _prepared.get(self._pgc)
        if state is None:
            state = _prepared[self._pgc] = {}
        pgconn = self._pgc.pgconn
        result = None
        if name in state:
            result = pgconn.exec_prepared(name, values)
            if result.status == pq.ExecStatus.FATAL_ERROR and isinstance(_error(self._pgc, result), InvalidSqlStatementName):
                # The session lost its statements (psycopg's DEALLOCATE ALL after a failed
                # transaction, a DISCARD ALL): prepare them again, at once unless a transaction
                # has just failed with it.
                state.clear()
                if pgconn.transaction_status == pq.TransactionStatus.INERROR:
                    _check(self._pgc, result)
                result = None
        if result is None:
            _check(self._pgc, pgconn.prepare(name, command))
            state[name] = None
            result = pgconn.exec_prepared(name, values)
        _check(self._pgc, result)
        if result.status == pq.ExecStatus.TUPLES_OK and result.ntuples:
            loaders = state[name]
            if loaders is None:
                loaders = state[name] = [_loader(self._pgc, result.ftype(i)) for i in range(result.nfields)]
            self._row = tuple(None if (v := result.get_value(0, i)) is None else loader.load(v) for i, loader in enumerate(loaders))

    def fetchone(self):
        if self._on_cursor:
            return self._cursor.fetchone()
        return self._row

    def _cursor_execute(self, sql: str, params) -> None:
        if self._cursor is None:
            self._cursor = psycopg.Cursor(self._pgc)
        self._cursor.execute(sql, params, prepare=self._pgc.prepare_threshold is not None)

    def close(self) -> None:
        if self._cursor is not None:
            self._cursor.close()


def _libpq_values(pgc: psycopg.Connection, params) -> list[bytes | None] | None:
    """The parameters as libpq's text values, or None when the statement needs psycopg's cursor:
    a transaction psycopg would open first (it sends BEGIN with a cursor's first statement), a
    failed transaction (the cursor raises psycopg's own error), no server-side preparing
    (DASH_PG_PREPARE=false), or a value `_text` does not know."""
    if pgc.prepare_threshold is None:
        return None
    status = pgc.pgconn.transaction_status
    if not (status == pq.TransactionStatus.INTRANS or (status == pq.TransactionStatus.IDLE and pgc.autocommit)):
        return None
    try:
        return [None if value is None else _TEXT.get(type(value), _text)(value) for value in params]
    except TypeError:
        return None


def _text(value) -> bytes:
    """A value in PostgreSQL's text input format (the prepared statement gives it its type);
    the types `_TEXT` has no entry for, subclasses included."""
    if isinstance(value, bool):
        return b"t" if value else b"f"
    if isinstance(value, (int, str, Decimal, uuid.UUID)):
        return str(value).encode()
    if isinstance(value, (datetime, date)):
        return value.isoformat().encode()  # aware datetimes carry their offset
    if isinstance(value, bytes):
        return b"\\x" + value.hex().encode()  # bytea
    if isinstance(value, Jsonb) and value.dumps is not None:
        dumped = value.dumps(value.obj)
        return dumped if isinstance(dumped, bytes) else dumped.encode()
    raise TypeError(type(value))


def _str_bytes(value) -> bytes:
    return str(value).encode()


_TEXT = {int: _str_bytes, str: str.encode, datetime: lambda value: value.isoformat().encode()}


def _statement(sql: str) -> tuple[bytes, bytes]:
    """A name for the statement and its text with $1, $2 ... for the %s placeholders."""
    found = _names.get(sql)
    if found is None:
        if "%" in sql.replace("%s", ""):
            raise ValueError("a hot statement takes %s placeholders and no other %")
        parts = sql.split("%s")
        command = "".join(part + (f"${n}" if n < len(parts) else "") for n, part in enumerate(parts, start=1))
        # Named after the text, not a counter: threads may get here at once.
        found = _names[sql] = (b"dash_hot_" + hashlib.sha1(sql.encode()).hexdigest()[:20].encode(), command.encode())
    return found


def _loader(pgc: psycopg.Connection, oid: int):
    """The loader a psycopg cursor on this connection would use for a text column of this type."""
    adapters = pgc.adapters
    cls = adapters.get_loader(oid, pq.Format.TEXT) or adapters.get_loader(0, pq.Format.TEXT)  # 0: any other type
    return cls(oid, pgc)


def _error(pgc: psycopg.Connection, result: pq.abc.PGresult) -> psycopg.Error:
    return error_from_result(result, encoding=pgc.info.encoding)


def _check(pgc: psycopg.Connection, result: pq.abc.PGresult) -> None:
    if result.status not in _OK:
        if pgc.pgconn.status == pq.ConnStatus.BAD:
            # The connection is gone (a restart ended the session): no SQLSTATE, and the same
            # error class a cursor raises, so the intake answers 503 and Django drops it.
            raise psycopg.OperationalError(result.get_error_message(pgc.info.encoding))
        raise _error(pgc, result)
