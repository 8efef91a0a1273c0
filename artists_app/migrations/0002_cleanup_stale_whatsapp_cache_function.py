"""On PostgreSQL: `SELECT cleanup_stale_whatsapp_cache();` deletes member rows not synced for
7 days and returns how many (INTERFACE.md §3). Other databases use the management command."""

from django.db import migrations

CREATE_FUNCTION = """
CREATE OR REPLACE FUNCTION cleanup_stale_whatsapp_cache(stale_days integer DEFAULT 7)
RETURNS integer
LANGUAGE plpgsql
AS $$
DECLARE
    deleted integer;
BEGIN
    DELETE FROM artist_whatsapp_group_members
    WHERE last_synced_at < now() - make_interval(days => stale_days);
    GET DIAGNOSTICS deleted = ROW_COUNT;
    RETURN deleted;
END;
$$
"""

COMMENT_FUNCTION = """
COMMENT ON FUNCTION cleanup_stale_whatsapp_cache(integer) IS
    'Deletes cached WhatsApp group members not synced for stale_days (default 7); returns the count.';
"""

DROP_FUNCTION = "DROP FUNCTION IF EXISTS cleanup_stale_whatsapp_cache(integer);"


def create_function(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        # One statement per call (psycopg 3 sends parameterless SQL as a single command).
        schema_editor.execute(CREATE_FUNCTION, params=None)
        schema_editor.execute(COMMENT_FUNCTION, params=None)


def drop_function(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP_FUNCTION, params=None)


class Migration(migrations.Migration):
    dependencies = [
        ("artists_app", "0001_initial"),
    ]

    operations = [
        migrations.RunPython(create_function, drop_function, elidable=False),
    ]
