"""Bit sets of customer and device ids united over each partner's products (PostgreSQL):
partners_partnerbits, keyed like partners_productbits but by partner and rollup shard (the
shards never write the same rows). A figure over a partner's whole catalog then ORs one row per
shard for each piece of its range instead of one per product. Not a Django model (raw SQL,
like partners_productbits). Filled here from the product bit sets already rolled up."""

from django.db import DatabaseError, migrations, transaction

SHARDS = 2  # partners.analytics.rollup.shards() on PostgreSQL when this migration was written

TABLE = """
CREATE TABLE IF NOT EXISTS partners_partnerbits (
    partner_id bigint NOT NULL, shard integer NOT NULL, dim varchar(16) NOT NULL, span char(1) NOT NULL,
    day date NOT NULL, chunk integer NOT NULL, bits bit varying NOT NULL,
    PRIMARY KEY (partner_id, dim, span, day, chunk, shard)
)
"""


def forwards(apps, schema_editor):
    connection = schema_editor.connection
    if connection.vendor != "postgresql":
        return  # SQLite counts distinct customers from its membership rows
    with connection.cursor() as cursor:
        cursor.execute(TABLE)
        try:
            with transaction.atomic(using=connection.alias):
                cursor.execute("ALTER TABLE partners_partnerbits ALTER COLUMN bits SET COMPRESSION lz4")
        except DatabaseError:
            pass  # a server built without lz4 keeps pglz
        cursor.execute(
            "INSERT INTO partners_partnerbits (partner_id, shard, dim, span, day, chunk, bits)"
            f" SELECT p.partner_id, mod(b.product_id, {SHARDS}), b.dim, b.span, b.day, b.chunk, bit_or(b.bits)"
            " FROM partners_productbits b JOIN partners_product p ON p.id = b.product_id GROUP BY 1, 2, 3, 4, 5, 6"
        )


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP TABLE IF EXISTS partners_partnerbits")


class Migration(migrations.Migration):
    dependencies = [
        ("partners", "0007_analytics_month_cells"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
