"""Django admin is scoped like the pages (INTERFACE.md §10): a staff user of organization B with
every view/change/delete permission gets nothing of organization A in any changelist, change
page, foreign-key choice or action, and never sees an API token."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.contrib.auth.models import Permission
from django.forms.models import model_to_dict
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone
from rest_framework.authtoken.models import Token

from artists_app.models import Artist, ArtistWhatsAppGroupMember
from campaigns_app.models import (
    NotificationCampaign,
    NotificationCampaignGroup,
    QueueSessionState,
    ScheduledWhatsAppMessage,
)
from groups_app.models import WhatsAppGroup
from tests import factories
from whatsapp_crm.models import TaskRun, WebhookEvent


@pytest.fixture
def org_a_rows(organization, user):
    """One row of every model, all in organization A."""
    session = factories.session_create(organization=organization, phone_number="4915100000001")
    group = WhatsAppGroup.objects.create(
        organization=organization,
        session=session,
        group_jid="120363000000000001@g.us",
        group_name="A secret group",
    )
    campaign = NotificationCampaign.objects.create(
        organization=organization, session=session, name="A campaign", message="A text"
    )
    campaign_group = NotificationCampaignGroup.objects.create(
        campaign=campaign, group=group, group_jid=group.group_jid, group_name=group.group_name
    )
    message = ScheduledWhatsAppMessage.objects.create(
        organization=organization,
        session=session,
        recipient_jid=group.group_jid,
        message="A private message",
        status=ScheduledWhatsAppMessage.Status.NEEDS_REVIEW,
    )
    state = QueueSessionState.objects.create(session=session)
    artist = Artist.objects.create(
        organization=organization, name="A artist", whatsapp_group_id="120363000000000001"
    )
    member = ArtistWhatsAppGroupMember.objects.create(
        artist=artist,
        whatsapp_group_id="120363000000000001",
        member_phone="4915100000002",
        last_synced_at=timezone.now(),
    )
    run = TaskRun.objects.create(organization=organization, kind="a-run")
    event = WebhookEvent.objects.create(
        source="status",
        event_key="a-key",
        session_id=session.session_id,
        outcome=WebhookEvent.Outcome.APPLIED,
    )
    token = Token.objects.create(user=user)
    return [
        session,
        group,
        campaign,
        campaign_group,
        message,
        state,
        artist,
        member,
        run,
        event,
        user,
        user.organization_membership,
        organization,
        token,
    ]


@pytest.fixture
def staff_b_user(other_organization):
    """Staff of organization B holding every permission of every model (not a superuser)."""
    user = factories.user_create(organization=other_organization, username="bob-staff")
    user.is_staff = True
    user.save()
    user.user_permissions.set(Permission.objects.all())
    return user


@pytest.fixture
def staff_b(client, staff_b_user):
    client.force_login(staff_b_user)
    return client


def _snapshot(rows):
    return [(type(r), r.pk, model_to_dict(r)) for r in rows if type(r) is not Token]


def _reload(snapshot):
    return [(model, pk, model_to_dict(model.objects.get(pk=pk))) for model, pk, _ in snapshot]


def _registered():
    return sorted(admin.site._registry.items(), key=lambda item: item[0]._meta.label)


def test_no_changelist_shows_a_row_of_another_organization(staff_b, org_a_rows):
    uuids = [str(r.pk) for r in org_a_rows if not isinstance(r.pk, int) and type(r) is not Token]
    secrets = uuids + ["A secret group", "A private message", "A artist", org_a_rows[-1].key]
    seen = 0
    for model, _ in _registered():
        url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
        response = staff_b.get(url)
        assert response.status_code in (200, 403), url
        if response.status_code == 200:
            seen += 1
            html = response.content.decode()
            leaked = [s for s in secrets if s in html]
            assert not leaked, f"{url} shows {leaked}"
    assert seen >= 8  # the organization's own models are listed (empty), not hidden


def test_no_change_page_of_another_organization_opens(staff_b, org_a_rows):
    for row in org_a_rows:
        meta = type(row)._meta
        if not admin.site.is_registered(type(row)):
            continue
        url = reverse(f"admin:{meta.app_label}_{meta.model_name}_change", args=[row.pk])
        response = staff_b.get(url)
        # Django admin answers a row outside the queryset with a redirect to the index
        # ("… doesn't exist"), or 403 for models B may not see at all.
        assert response.status_code in (302, 403, 404), url


def test_no_action_touches_another_organizations_rows(staff_b, staff_b_user, org_a_rows):
    before = _snapshot(org_a_rows)
    for model, model_admin in _registered():
        url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
        targets = [str(r.pk) for r in org_a_rows if type(r) is model]
        if not targets:
            continue
        request = RequestFactory().get(url)
        request.user = staff_b_user
        for name in model_admin.get_actions(request):
            staff_b.post(url, {"action": name, "_selected_action": targets, "post": "yes"})
    assert _reload(before) == before
    for row in org_a_rows:
        assert type(row).objects.filter(pk=row.pk).exists(), row


def test_foreign_key_choices_are_the_users_organization_only(
    staff_b, org_a_rows, other_organization
):
    own = factories.session_create(organization=other_organization, phone_number="4915100000009")
    url = reverse("admin:groups_app_whatsappgroup_add")
    page = staff_b.get(url).content.decode()

    foreign = staff_b.post(
        url, {"session": str(org_a_rows[0].pk), "group_jid": "1@g.us", "participant_count": 0}
    )
    mine = staff_b.post(
        url, {"session": str(own.pk), "group_jid": "2@g.us", "participant_count": 0}
    )

    assert 'name="organization"' not in page  # set from the user, not chosen
    assert foreign.status_code == 200  # the form again, with an error
    assert not WhatsAppGroup.objects.filter(group_jid="1@g.us").exists()
    assert mine.status_code == 302
    assert WhatsAppGroup.objects.get(group_jid="2@g.us").organization == other_organization


def test_tokens_are_never_shown_to_staff(staff_b, org_a_rows):
    token = org_a_rows[-1]

    response = staff_b.get("/admin/authtoken/tokenproxy/")

    assert response.status_code == 403
    assert token.key not in staff_b.get("/admin/").content.decode()


def test_a_superuser_sees_every_organization(client, org_a_rows, other_organization):
    root = factories.user_create(username="root", is_staff=True, is_superuser=True)
    client.force_login(root)

    for row in org_a_rows[:9]:
        meta = type(row)._meta
        html = client.get(reverse(f"admin:{meta.app_label}_{meta.model_name}_changelist"))
        assert str(row.pk) in html.content.decode(), meta.label


def test_admin_actions_declare_the_permission_they_need():
    ours = {"whatsapp_crm", "sessions_app", "groups_app", "campaigns_app", "artists_app"}
    for model, model_admin in _registered():
        if model._meta.app_label not in ours:
            continue  # tokens, users, login attempts: superuser-only or Django's own
        for action in model_admin.actions or []:
            func = getattr(model_admin, action) if isinstance(action, str) else action
            assert getattr(func, "allowed_permissions", None), f"{model.__name__}: {action}"


def test_deleting_a_session_with_history_is_refused_and_explained(client, org_a_rows):
    root = factories.user_create(username="root", is_staff=True, is_superuser=True)
    client.force_login(root)
    session = org_a_rows[0]

    url = reverse("admin:sessions_app_whatsappsession_delete", args=[session.pk])
    page = client.get(url).content.decode()
    client.post(url, {"post": "yes"})

    assert "protected" in page.lower() or "would require deleting" in page
    assert type(session).objects.filter(pk=session.pk).exists()
    assert NotificationCampaign.objects.filter(session=session).exists()


def test_the_admin_index_uses_readable_names(client, db):
    root = factories.user_create(username="root", is_staff=True, is_superuser=True)
    client.force_login(root)

    html = client.get("/admin/").content.decode()

    for name in (
        "WhatsApp sessions",
        "WhatsApp groups",
        "Campaigns and send queue",
        "Queued messages",
    ):
        assert name in html, name
    assert "Whats app" not in html
    assert ">Campaigns_App<" not in html and ">CAMPAIGNS_APP<" not in html
