"""Audit events append-only in the database itself (PostgreSQL): UPDATE and DELETE raise.

The model already refuses save() of an existing row and delete(); this trigger also stops
queryset .update()/.delete(), raw SQL and any other client of the database. The one update
allowed is the ON DELETE SET NULL of `actor_id` when a user account is deleted (the event
keeps its `actor_label`). TRUNCATE (a table owner's maintenance, and Django's test flush)
is not a row operation and is not blocked. Other databases (SQLite for development) rely
on the model guard only.
"""

from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION portal_auditevent_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE'
       AND OLD.actor_id IS NOT NULL AND NEW.actor_id IS NULL
       AND (to_jsonb(NEW) - 'actor_id') = (to_jsonb(OLD) - 'actor_id') THEN
        RETURN NEW;  -- the actor's account was deleted: the event stays, with its label
    END IF;
    RAISE EXCEPTION 'audit events are append-only: % on portal_auditevent refused', TG_OP
        USING HINT = 'Audit events are never updated nor deleted.';
END;
$$;
DROP TRIGGER IF EXISTS portal_auditevent_append_only ON portal_auditevent;
CREATE TRIGGER portal_auditevent_append_only
    BEFORE UPDATE OR DELETE ON portal_auditevent
    FOR EACH ROW EXECUTE FUNCTION portal_auditevent_append_only();
"""

DROP = """
DROP TRIGGER IF EXISTS portal_auditevent_append_only ON portal_auditevent;
DROP FUNCTION IF EXISTS portal_auditevent_append_only();
"""


def _on_postgresql(sql: str):
    def run(apps, schema_editor) -> None:
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(sql, params=None)  # raw: the SQL has literal % signs

    return run


class Migration(migrations.Migration):
    dependencies = [
        ("portal", "0003_outboxmessage"),
    ]

    operations = [
        migrations.RunPython(_on_postgresql(CREATE), _on_postgresql(DROP), elidable=False),
    ]
