"""Prepared statements for the device intake's few hot queries.

Django binds parameters on the client, so PostgreSQL parses and plans every statement again.
For the two or three statements each device event runs, a server-side prepared statement
saves that work (the context query joins four tables). Other backends (SQLite, for the
embedded mode) go through Django's cursor as usual.

On PostgreSQL the statements go straight to libpq (`psycopg.pq`: prepare once per connection,
then `exec_prepared`), with the values dumped and the row loaded by psycopg's own Transformer
for the connection, as a cursor would. A cursor's execute costs about three times as much
Python (measured: 0.125 ms against 0.044 ms a statement), and those few statements are most of
an event's CPU. Where libpq alone would not do the same as a cursor (a transaction psycopg has
yet to open, a failed one, DASH_PG_PREPARE=false), the statement runs on a psycopg cursor.
Callers use `hot_fetchone(sql, params)`."""

import hashlib
import weakref

import psycopg
from django.db import DEFAULT_DB_ALIAS, connections
from psycopg import pq
from psycopg.adapt import PyFormat, Transformer
from psycopg.errors import InvalidSqlStatementName, error_from_result

_OK = (pq.ExecStatus.TUPLES_OK, pq.ExecStatus.COMMAND_OK)


class _Session:
    """Per psycopg connection: the names of the statements prepared on it (a new connection,
    after a restart, prepares again) and its Transformer (dumpers and loaders, cached per type)."""

    def __init__(self, pgc: psycopg.Connection):
        self.names: set[bytes] = set()
        self.adapt = Transformer(pgc)


_sessions: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_names: dict[str, tuple[bytes, bytes]] = {}  # SQL with %s -> (its statement's name, its text with $n)


def hot_fetchone(sql: str, params) -> tuple | None:
    """Run one of a few fixed statements (`%s` placeholders) and return its first row, or None
    when it returns none. On PostgreSQL the statement is prepared once per connection and stays
    prepared for the connection's life.

    It runs on Django's own connection, so it takes part in the current transaction; it skips
    Django's cursor wrapper, so these statements are not in `connection.queries` (DEBUG). A
    plain function, not a cursor in a context manager: those cost the intake about 0.03 ms of
    Python an event (measured in-process)."""
    conn = connections[DEFAULT_DB_ALIAS]  # once: each `connection.x` is a thread-local lookup
    if conn.vendor != "postgresql":
        with conn.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchone() if cursor.description else None
    if conn.connection is None:
        conn.ensure_connection()
    with conn.wrap_database_errors:
        return _fetchone(conn.connection, sql, params)


def _fetchone(pgc: psycopg.Connection, sql: str, params) -> tuple | None:
    if not _libpq_will_do(pgc):
        with psycopg.Cursor(pgc) as cursor:
            cursor.execute(sql, params, prepare=pgc.prepare_threshold is not None)
            return cursor.fetchone() if cursor.description else None
    session = _sessions.get(pgc)
    if session is None:
        session = _sessions[pgc] = _Session(pgc)
    values = session.adapt.dump_sequence(params, [PyFormat.TEXT] * len(params))
    name, command = _statement(sql)
    pgconn = pgc.pgconn
    result = None
    if name in session.names:
        result = pgconn.exec_prepared(name, values)
        if result.status == pq.ExecStatus.FATAL_ERROR and isinstance(_error(pgc, result), InvalidSqlStatementName):
            # The session lost its statements (psycopg's DEALLOCATE ALL after a failed
            # transaction, a DISCARD ALL): prepare them again, at once unless a transaction
            # has just failed with it.
            session.names.clear()
            if pgconn.transaction_status == pq.TransactionStatus.INERROR:
                _check(pgc, result)
            result = None
    if result is None:
        _check(pgc, pgconn.prepare(name, command))
        session.names.add(name)
        result = pgconn.exec_prepared(name, values)
    _check(pgc, result)
    if result.status != pq.ExecStatus.TUPLES_OK or not result.ntuples:
        return None
    session.adapt.set_pgresult(result)
    return session.adapt.load_row(0, tuple)


def _libpq_will_do(pgc: psycopg.Connection) -> bool:
    """False when the statement needs psycopg's cursor: a transaction psycopg would open first
    (it sends BEGIN with a cursor's first statement), a failed transaction (the cursor raises
    psycopg's own error), or no server-side preparing (DASH_PG_PREPARE=false)."""
    if pgc.prepare_threshold is None:
        return False
    status = pgc.pgconn.transaction_status
    return status == pq.TransactionStatus.INTRANS or (status == pq.TransactionStatus.IDLE and pgc.autocommit)


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


def _error(pgc: psycopg.Connection, result: pq.abc.PGresult) -> psycopg.Error:
    return error_from_result(result, encoding=pgc.info.encoding)


def _check(pgc: psycopg.Connection, result: pq.abc.PGresult) -> None:
    if result.status not in _OK:
        if pgc.pgconn.status == pq.ConnStatus.BAD:
            # The connection is gone (a restart ended the session): no SQLSTATE, and the same
            # error class a cursor raises, so the intake answers 503 and Django drops it.
            raise psycopg.OperationalError(result.get_error_message(pgc.info.encoding))
        raise _error(pgc, result)
