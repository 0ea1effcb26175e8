"""dash.hotpath: the intake's statements run through libpq with the same values, the same
transactions and the same errors as on a psycopg cursor."""

import uuid
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.db import IntegrityError, ProgrammingError, connection, transaction
from psycopg.types.json import Jsonb

from dash import hotpath

ROUND_TRIP = (
    "SELECT %s::int, %s::bigint, %s::text, %s::boolean, %s::numeric(10,2), %s::bytea, %s::uuid, %s::timestamptz, %s::jsonb, %s::int"
)
VALUES = [
    7,
    2**40,
    "crème ' \\ brûlée",
    True,
    Decimal("3.49"),
    b"\x00\xff{}",
    uuid.UUID("12345678-1234-5678-1234-567812345678"),
    datetime(2026, 11, 27, 18, 0, 1, 250000, tzinfo=UTC),
    Jsonb({"a": [1, "two"]}, dumps=lambda value: '{"a": [1, "two"]}'),
    None,
]


@pytest.fixture
def notes():
    """A table of this session's own (temporary), empty."""
    with connection.cursor() as cursor:
        cursor.execute("CREATE TEMP TABLE IF NOT EXISTS hot_notes (id int PRIMARY KEY, note text NOT NULL)")
        cursor.execute("TRUNCATE hot_notes")
    return "INSERT INTO hot_notes (id, note) VALUES (%s, %s)"


def _hot(sql, params):
    return hotpath.hot_fetchone(sql, params)


def _cursor(sql, params):
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()


@pytest.mark.django_db(transaction=True)
def test_values_make_the_round_trip_as_a_cursor_reads_them():
    # given autocommit (the intake's usual state): the libpq route
    assert connection.get_autocommit()

    # when / then: twice, the second time through the prepared statement
    expected = _cursor(ROUND_TRIP, VALUES)
    assert expected[:8] == tuple(VALUES[:8])
    assert _hot(ROUND_TRIP, VALUES) == expected
    assert _hot(ROUND_TRIP, VALUES) == expected
    assert hotpath._statement(ROUND_TRIP)[0] in hotpath._sessions[connection.connection].names


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("first", ["hot", "orm"])
def test_a_hot_statement_is_part_of_the_callers_transaction(first, notes):
    # given a transaction whose first statement is the hot one (psycopg has yet to send BEGIN:
    # the cursor route) or another one (already in the transaction: the libpq route)
    _hot(notes, [1, "before"])

    # when it rolls back
    with pytest.raises(RuntimeError), transaction.atomic():
        if first == "orm":
            assert _cursor("SELECT count(*) FROM hot_notes", []) == (1,)
        _hot(notes, [2, "inside"])
        assert _cursor("SELECT count(*) FROM hot_notes", []) == (2,)
        raise RuntimeError

    # then the row went with it
    assert _cursor("SELECT array_agg(id) FROM hot_notes", []) == ([1],)


@pytest.mark.django_db(transaction=True)
def test_statements_the_session_lost_are_prepared_again():
    _hot("SELECT %s::int + 1", [1])
    with connection.cursor() as cursor:
        cursor.execute("DEALLOCATE ALL")  # what psycopg sends after some failed transactions

    assert _hot("SELECT %s::int + 1", [1]) == (2,)  # autocommit: at once

    with connection.cursor() as cursor:
        cursor.execute("DEALLOCATE ALL")
    with pytest.raises(ProgrammingError), transaction.atomic():
        _cursor("SELECT 1", [])
        _hot("SELECT %s::int + 1", [1])  # in a transaction: that transaction fails ...
    assert _hot("SELECT %s::int + 1", [1]) == (2,)  # ... and the next statement prepares it again


@pytest.mark.django_db(transaction=True)
def test_errors_are_djangos_as_on_a_cursor(notes):
    _hot(notes, [1, "first"])

    with pytest.raises(IntegrityError):
        _hot(notes, [1, "twice"])
    assert _hot("SELECT note FROM hot_notes WHERE id = %s", [1]) == ("first",)


def test_a_statement_with_other_percent_signs_is_refused():
    with pytest.raises(ValueError, match="placeholders"):
        hotpath._statement("SELECT 'a%' LIKE %s")


@pytest.mark.django_db(transaction=True)
def test_without_server_side_preparing_a_statement_runs_unprepared(monkeypatch):
    # given DASH_PG_PREPARE=false (psycopg's prepare_threshold None: a transaction-pooling PgBouncer)
    connection.ensure_connection()
    monkeypatch.setattr(connection.connection, "prepare_threshold", None)
    sql = "SELECT %s::int * 3 AS unprepared"

    # when
    row = _hot(sql, [5])

    # then the answer is the same and nothing is left prepared on the server
    assert row == (15,)
    assert _cursor("SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE %s", ["%unprepared%"]) == (0,)
