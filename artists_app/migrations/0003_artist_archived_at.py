"""Artists can be archived (`artists.archived_at`): hidden from the list, the lookup and the nightly
sync, their cached members kept. So the Postgres cleanup function skips archived artists' members
too, like the management command (services.group_members_cleanup_stale)."""

from django.db import migrations, models

CREATE_FUNCTION = """
CREATE OR REPLACE FUNCTION cleanup_stale_whatsapp_cache(stale_days integer DEFAULT 7)
RETURNS integer
LANGUAGE plpgsql
AS $$
DECLARE
    deleted integer;
BEGIN
    DELETE FROM artist_whatsapp_group_members AS m
    USING artists AS a
    WHERE a.id = m.artist_id
      AND a.archived_at IS NULL
      AND m.last_synced_at < now() - make_interval(days => stale_days);
    GET DIAGNOSTICS deleted = ROW_COUNT;
    RETURN deleted;
END;
$$
"""

# The function of 0002, for migrating back.
PREVIOUS_FUNCTION = """
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
    'Deletes cached WhatsApp group members not synced for stale_days (default 7), except archived artists'' members; returns the count.';
"""


def create_function(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        # One statement per call (psycopg 3 sends parameterless SQL as a single command).
        schema_editor.execute(CREATE_FUNCTION, params=None)
        schema_editor.execute(COMMENT_FUNCTION, params=None)


def restore_function(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(PREVIOUS_FUNCTION, params=None)


class Migration(migrations.Migration):
    dependencies = [
        ("artists_app", "0002_cleanup_stale_whatsapp_cache_function"),
    ]

    operations = [
        migrations.AddField(
            model_name="artist",
            name="archived_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.RunPython(create_function, restore_function, elidable=False),
    ]
