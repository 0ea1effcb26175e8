"""The customer and product of the events the partner analytics has yet to read (0006 added the
columns), worked out as the analytics feed did before it read them from the event itself: the
order's customer and product when the event names an order, else the device's customer and --
for a button -- its product, or for a scan the catalog product with the event's GTIN; an
`unknown_product` event names no product.

Only the events above the device feed's lowest shard watermark: the ones below are counted
already, no one reads these columns of theirs, and the prune deletes them within the retention
window (DASH_EVENT_RETENTION_HOURS); they keep NULL, as events from before the columns. That is
usually a minute of events, however long the log. It goes by primary-key ranges, each its own
transaction (atomic = False); every batch sets the same values whenever it runs, so after a
failure `migrate` simply starts again.

Deploy the code that writes the columns together with this migration: an event written by the
old code after its range was passed keeps NULL and would count for no one."""

from django.db import migrations

BATCH = 50_000
FEED = "device_events"  # devices.analytics_feed.DEVICE_EVENTS_FEED, as it was named at this migration

_UPDATE = """
UPDATE devices_deviceevent SET
    customer_id = COALESCE(
        (SELECT o.customer_id FROM orders_order o WHERE o.id = devices_deviceevent.order_id),
        (SELECT d.customer_id FROM devices_device d WHERE d.id = devices_deviceevent.device_id)
    ),
    product_id = CASE WHEN outcome = 'unknown_product' THEN NULL ELSE COALESCE(
        (SELECT o.product_id FROM orders_order o WHERE o.id = devices_deviceevent.order_id),
        (SELECT p.id FROM partners_product p
          WHERE devices_deviceevent.order_id IS NULL AND p.gtin = devices_deviceevent.payload ->> 'gtin'),
        (SELECT d.product_id FROM devices_device d WHERE d.id = devices_deviceevent.device_id AND d.kind = 'button')
    ) END
WHERE id > %s AND id <= %s
"""


def forwards(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("SELECT min(last_id) FROM partners_rollupwatermark WHERE feed = %s OR feed LIKE %s", [FEED, f"{FEED}:%"])
        consumed = cursor.fetchone()[0] or 0
        cursor.execute("SELECT min(id), max(id) FROM devices_deviceevent WHERE id > %s", [consumed])
        low, high = cursor.fetchone()
        if low is None:
            return
        for start in range(low - 1, high, BATCH):
            cursor.execute(_UPDATE, [start, start + BATCH])


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("devices", "0006_event_log_customer_and_product"),
        ("orders", "0003_notice_cursor"),
    ]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
