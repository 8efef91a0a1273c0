from __future__ import annotations

from io import StringIO
from unittest import mock

from artists_app import demo, tasks
from artists_app.models import Artist
from whatsapp_crm.models import TaskRun


def test_it_seedsdemo_artists_once_and_queues_their_syncs(organization):
    with mock.patch.object(tasks.group_members_sync, "delay"):
        demo.seed(organization=organization, stdout=StringIO())
        out = StringIO()
        demo.seed(organization=organization, stdout=out)
    assert Artist.objects.filter(organization=organization).count() == len(demo.demo_artists())
    assert "already there" in out.getvalue()
    assert TaskRun.objects.filter(organization=organization).count() == len(demo.demo_artists())


def test_it_syncs_thedemo_artists_from_the_simulator(organization, gateway_simulator):
    with mock.patch.object(tasks.group_members_sync, "delay"):
        demo.seed(organization=organization, stdout=StringIO())
    for run in TaskRun.objects.filter(organization=organization):
        tasks.group_members_sync(str(run.pk))
    assert set(Artist.objects.values_list("member_sync_status", flat=True)) == {"success"}
    assert all(a.group_members.count() == 40 for a in Artist.objects.all())


def test_it_namesdemo_artists_after_their_simulated_groups():
    from gateway_simulator import generate_whapi_group

    pairs = demo.demo_artists()
    assert len({name for name, _ in pairs}) == len(pairs) == 5
    for name, group_id in pairs:
        assert generate_whapi_group(group_id)["name"].startswith(f"{name} – ")
