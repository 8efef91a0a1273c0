from __future__ import annotations

from io import StringIO

from django.core.management import call_command

from groups_app.models import WhatsAppGroup


def make(session, jid: str, name: str, **fields) -> WhatsAppGroup:
    return WhatsAppGroup.objects.create(
        organization=session.organization,
        session=session,
        group_jid=jid,
        group_name=name,
        **fields,
    )


def run(*args: str) -> str:
    out = StringIO()
    call_command("purge_community_parents", *args, stdout=out)
    return out.getvalue()


def test_it_deletes_stored_community_parents_and_prints_them(gateway_session):
    make(gateway_session, "120363000000000001@g.us", "Nova Lights Community", is_community=True)
    make(gateway_session, "120363000000000002@g.us", "Nova Lights Announcements")

    output = run()

    assert "removed 120363000000000001@g.us  Nova Lights Community" in output
    assert "Removed 1 group." in output
    assert list(WhatsAppGroup.objects.values_list("group_jid", flat=True)) == [
        "120363000000000002@g.us"
    ]


def test_it_changes_nothing_in_a_dry_run(gateway_session):
    make(gateway_session, "120363000000000001@g.us", "Nova Lights Community", is_community=True)

    output = run("--dry-run")

    assert "would remove 120363000000000001@g.us" in output
    assert "dry run: nothing deleted" in output
    assert WhatsAppGroup.objects.count() == 1


def test_it_also_deletes_the_jids_named(gateway_session):
    make(gateway_session, "120363000000000001@g.us", "Old parent, unflagged")
    make(gateway_session, "120363000000000003@g.us", "Also wrong")
    make(gateway_session, "120363000000000009@g.us", "Keep me")

    output = run("--jid", "120363000000000001@g.us", "--jid", "120363000000000003", "404@g.us")

    assert "Removed 2 groups." in output
    assert "no stored group with JID 404@g.us" in output
    assert list(WhatsAppGroup.objects.values_list("group_jid", flat=True)) == [
        "120363000000000009@g.us"
    ]
