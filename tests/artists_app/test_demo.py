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


def test_the_demo_number_is_in_the_demo_artists_groups():
    """So a campaign to an artist's group and a member added in the simulator are about the
    artist's cached members (the simulator refuses changes to a group the session is not in)."""
    from demo_data import DEMO_MAIN_SESSION_ID, generate_groups

    groups = {g["id"]: g for g in generate_groups(DEMO_MAIN_SESSION_ID, 30)}
    for name, group_id in demo.demo_artists():
        group = groups[f"{group_id}@g.us"]
        assert group["subject"].startswith(f"{name} – ")
        assert not group["isCommunity"]
    assert len(groups) == 30 + len(demo.demo_artists())
