"""`manage.py sync_group_members` against the real gateway/WHAPI simulator."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from artists_app.models import Artist, ArtistWhatsAppGroupMember
from tests.artists_app.conftest import artist_make
from whatsapp_crm.models import TaskRun


def test_it_syncs_every_artist_with_a_progress_bar_and_a_summary(
    organization, other_organization, gateway_simulator
):
    for n in range(4):
        artist_make(organization, f"Artist {n}", f"12036300000000080{n}")
    artist_make(other_organization, "Elsewhere", "120363000000000810")
    artist_make(organization, "No group", "")
    out = StringIO()

    call_command("sync_group_members", stdout=out)

    text = out.getvalue()
    assert "Syncing the group members of 5 artist(s)" in text
    assert "[" + "#" * 30 + "] 5/5" in text
    assert "Synced 5 of 5 artist(s): 200 members cached" in text
    assert "All artists synced." in text
    # 40 participants each, 2 of them privacy ids (no phone, never matched).
    assert ArtistWhatsAppGroupMember.objects.count() == 200
    assert ArtistWhatsAppGroupMember.objects.filter(member_phone=None).count() == 10
    assert TaskRun.objects.filter(state="SUCCESS").count() == 2  # one run per organization


def test_it_syncs_one_artist(organization, gateway_simulator):
    one = artist_make(organization, "One", "120363000000000901")
    artist_make(organization, "Two", "120363000000000902")
    out = StringIO()
    call_command("sync_group_members", "--artist", str(one.pk), stdout=out)
    assert "1/1" in out.getvalue()
    assert set(ArtistWhatsAppGroupMember.objects.values_list("artist__name", flat=True)) == {"One"}


def test_it_reports_failures_and_exits_with_an_error(organization, gateway_simulator):
    artist_make(organization, "Fine", "120363000000000911")
    broken = artist_make(organization, "Broken", "120363000000000912")
    gateway_simulator.add_failure(path=r"/whapi/groups/120363000000000912.*", status=404, times=5)
    out = StringIO()
    with pytest.raises(CommandError, match="1 artist"):
        call_command("sync_group_members", stdout=out)
    assert "FAILED Broken: WhatsApp group 120363000000000912@g.us not found" in out.getvalue()
    broken.refresh_from_db()
    assert broken.member_sync_status == Artist.SyncStatus.FAILED


@pytest.mark.parametrize("value", ["nope", "6f1d0d52-6f7e-4a43-9f76-1f6a8d0c0e6b"])
def test_it_refuses_an_unknown_artist(value, db):
    with pytest.raises(CommandError, match="artist"):
        call_command("sync_group_members", "--artist", value, stdout=StringIO())
