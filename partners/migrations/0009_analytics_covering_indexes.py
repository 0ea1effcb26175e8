"""Covering indexes over the day and month cells' sums and customer counts (PostgreSQL).

The daily table, the totals, the sources and the products read only those columns of the cells
(the samples and the hours only for the few cells below the privacy threshold, and the heatmap).
A cell row is wide -- 24 hours, 7 samples, 24 hour samples -- so a year of one partner's day
cells was about 1,700 heap pages read for 20,000 rows; with the sums and counts in an index the
same rows are an index-only scan of about 270 pages (10M-event copy: the daily table's SQL went
from 14.8 to 8.8 ms). The month index carries the source too, for the sources table's whole
months (its edge days still read the day cells' rows). The cells' updates were not HOT updates
before either (their pages are full), so the indexes cost the rollup one more index entry per
written cell. Built CONCURRENTLY: the rollup keeps writing the cells meanwhile.

SQLite (`make run`) has no INCLUDE and its cells are few: it gets none."""

from django.db import migrations

SUMS = (
    "presses, placed, filtered, paused, cancelled, delivered, failed, "
    "people_presses, people_placed, people_filtered, people_paused, people_cancelled, people_delivered, people_failed"
)
INDEXES = (
    ("partners_daystat_sums", f"partners_productdaystat (product_id, day) INCLUDE ({SUMS})"),
    ("partners_monthstat_sums", f"partners_productmonthstat (product_id, month) INCLUDE (source, {SUMS})"),
)


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, target in INDEXES:
        schema_editor.execute(f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} ON {target}")


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, _ in INDEXES:
        schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY cannot run in a transaction

    dependencies = [
        ("partners", "0008_analytics_partner_bits"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
