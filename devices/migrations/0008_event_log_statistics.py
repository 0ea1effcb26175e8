"""No planner statistics for the event log's opaque columns: the event id, the body's hash, the
payload and the stored answer. No query filters, joins or sorts on them (the event id is looked
up together with the device, through the unique index), yet ANALYZE sorted a sample of each --
most of its CPU on the biggest and busiest table, run by autovacuum every tenth of the table
while the intake is writing it. Measured on a copy of a `make bench` event log (90,090 rows, 72
MB): ANALYZE 670 ms before, 250 ms after. PostgreSQL only; SQLite has no per-column target."""

from django.db import migrations

COLUMNS = ("event_id", "body_hash", "payload", "response_body")


def _set_target(schema_editor, target: int) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    changes = ", ".join(f"ALTER COLUMN {column} SET STATISTICS {target}" for column in COLUMNS)
    schema_editor.execute(f"ALTER TABLE devices_deviceevent {changes}")


def forwards(apps, schema_editor):
    _set_target(schema_editor, 0)


def backwards(apps, schema_editor):
    _set_target(schema_editor, -1)  # the default target


class Migration(migrations.Migration):
    dependencies = [("devices", "0007_event_log_customer_and_product_backfill")]

    operations = [migrations.RunPython(forwards, backwards, elidable=False)]
