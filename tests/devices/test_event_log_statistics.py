"""ANALYZE of the event log skips the columns no query plans by (devices migration 0008)."""

import importlib

import pytest
from django.db import connection

migration = importlib.import_module("devices.migrations.0008_event_log_statistics")


def _targets() -> dict[str, int]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT attname, attstattarget FROM pg_attribute WHERE attrelid = 'devices_deviceevent'::regclass AND attnum > 0 AND NOT attisdropped"
        )
        return dict(cursor.fetchall())


def _analyzed_columns() -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE devices_deviceevent")
        cursor.execute("SELECT attname FROM pg_stats WHERE tablename = 'devices_deviceevent'")
        return {row[0] for row in cursor.fetchall()}


@pytest.mark.django_db
def test_analyze_skips_the_opaque_columns_and_keeps_the_ones_queries_use(button, press):
    for n in range(5):
        press(button, f"evt-{n}")
    targets = _targets()
    assert {column: targets[column] for column in migration.COLUMNS} == dict.fromkeys(migration.COLUMNS, 0)
    analyzed = _analyzed_columns()
    assert analyzed.isdisjoint(migration.COLUMNS)
    assert {"device_id", "received_at", "outcome", "order_id", "customer_id", "product_id"} <= analyzed


@pytest.mark.django_db
def test_the_migration_reverses_to_the_default_target(button, press):
    press(button, "evt-1")
    with connection.schema_editor() as editor:
        migration.backwards(None, editor)
    assert set(migration.COLUMNS) <= _analyzed_columns()
    assert {_targets()[column] for column in migration.COLUMNS} == {-1}
    with connection.schema_editor() as editor:
        migration.forwards(None, editor)
    assert {_targets()[column] for column in migration.COLUMNS} == {0}
