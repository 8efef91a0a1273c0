from __future__ import annotations

from groups_app.models import WhatsAppGroup
from groups_app.selectors import group_list, group_stats
from tests import factories


def group(session, jid: str, name: str, **fields) -> WhatsAppGroup:
    return WhatsAppGroup.objects.create(
        organization=session.organization,
        session=session,
        group_jid=jid,
        group_name=name,
        **fields,
    )


def test_it_offers_only_sendable_groups(organization, gateway_session):
    group(gateway_session, "1@g.us", "Normal")
    group(gateway_session, "2@g.us", "Announcements", is_community_announce=True)
    group(gateway_session, "3@g.us", "Parent", is_community=True)
    group(gateway_session, "4@g.us", "Gone", is_active=False)

    sendable = group_list(organization=organization, sendable_only=True, active=None)

    assert [g.group_name for g in sendable] == ["Announcements", "Normal"]


def test_it_filters_by_session_activity_and_search(organization, gateway_session):
    second = factories.session_create(organization=organization)
    group(gateway_session, "1@g.us", "Fan Club Berlin")
    group(gateway_session, "2@g.us", "Tour Crew", is_active=False)
    group(second, "3@g.us", "Fan Club Wien")

    assert group_list(organization=organization).count() == 2
    assert group_list(organization=organization, active=None).count() == 3
    assert [g.group_jid for g in group_list(organization=organization, active=False)] == ["2@g.us"]
    assert [g.group_name for g in group_list(organization=organization, session=second)] == [
        "Fan Club Wien"
    ]
    assert group_list(organization=organization, search="fan CLUB").count() == 2
    assert group_list(organization=organization, search="3@g").count() == 1


def test_it_never_returns_another_organizations_groups(
    organization, other_organization, gateway_session
):
    foreign = factories.session_create(organization=other_organization)
    group(foreign, "9@g.us", "Foreign")
    group(gateway_session, "1@g.us", "Ours")

    assert [g.group_name for g in group_list(organization=organization, active=None)] == ["Ours"]


def test_it_counts_groups_of_a_session(gateway_session):
    group(gateway_session, "1@g.us", "A")
    group(gateway_session, "2@g.us", "B", is_active=False)
    group(gateway_session, "3@g.us", "C", is_community=True)

    stats = group_stats(session=gateway_session)

    assert (stats.active, stats.inactive, stats.community_parents) == (2, 1, 1)
    assert stats.last_synced_at is None
