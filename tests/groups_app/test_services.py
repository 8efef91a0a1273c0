from __future__ import annotations

import pytest
import requests
from django.db import connection
from django.test.utils import CaptureQueriesContext

from groups_app.models import WhatsAppGroup
from groups_app.services import GroupSyncDatabaseError, group_sync
from tests import factories
from tests.groups_app.conftest import make_groups, stored
from tests.helpers import load_payload
from whatsapp_crm.gateway import GatewayError


def test_it_skips_community_parents_and_keeps_announcement_groups(gateway_session, serve_groups):
    serve_groups(gateway_session, "groups")

    result = group_sync(session=gateway_session)

    assert result.success is True
    assert result.vps_count == 8
    assert result.skipped_community_parents == 2
    assert result.saved_count == 6
    rows = stored(gateway_session)
    assert "120363000000000001@g.us" not in rows  # parent
    assert "120363000000000004@g.us" not in rows  # parent
    announce = {jid for jid, row in rows.items() if row["is_community_announce"]}
    assert announce == {"120363000000000002@g.us", "120363000000000005@g.us"}
    assert not any(row["is_community"] for row in rows.values())
    assert all(row["is_active"] and row["synced_at"] for row in rows.values())
    tour = rows["120363000000000003@g.us"]
    assert (tour["group_name"], tour["participant_count"]) == ("Tour Crew 2026", 14)
    assert WhatsAppGroup.objects.filter(organization=gateway_session.organization).count() == 6


def test_it_is_idempotent_and_updates_names_on_resync(gateway_session, serve_groups):
    serve_groups(gateway_session, "groups")
    group_sync(session=gateway_session)
    first = stored(gateway_session)

    again = group_sync(session=gateway_session)
    assert again.saved_count == 6
    assert again.deactivated_count == 0
    second = stored(gateway_session)
    assert {jid: row["id"] for jid, row in second.items()} == {
        jid: row["id"] for jid, row in first.items()
    }
    assert WhatsAppGroup.objects.count() == 6

    payload = load_payload("groups")
    for group in payload["groups"]:
        if group["id"] == "120363000000000003@g.us":
            group["subject"] = "Tour Crew 2027"
            group["size"] = 20
    serve_groups(gateway_session, payload)
    renamed = group_sync(session=gateway_session)

    assert renamed.saved_count == 6
    row = stored(gateway_session)["120363000000000003@g.us"]
    assert (row["group_name"], row["participant_count"]) == ("Tour Crew 2027", 20)
    assert row["id"] == first["120363000000000003@g.us"]["id"]
    assert row["synced_at"] > first["120363000000000003@g.us"]["synced_at"]


def test_it_marks_vanished_groups_inactive_and_reactivates_returning_ones(
    gateway_session, serve_groups
):
    serve_groups(gateway_session, "groups")
    group_sync(session=gateway_session)

    payload = load_payload("groups")
    payload["groups"] = [g for g in payload["groups"] if g["id"] not in {"120363000000000007@g.us"}]
    serve_groups(gateway_session, payload)
    result = group_sync(session=gateway_session)

    assert result.deactivated_count == 1
    assert result.saved_count == 5
    rows = stored(gateway_session)
    assert rows["120363000000000007@g.us"]["is_active"] is False
    assert len(rows) == 6  # kept, not deleted: campaigns may point at it

    serve_groups(gateway_session, "groups")
    back = group_sync(session=gateway_session)
    assert back.saved_count == 6
    assert stored(gateway_session)["120363000000000007@g.us"]["is_active"] is True


def test_it_deactivates_community_parents_stored_by_an_older_sync(gateway_session, serve_groups):
    WhatsAppGroup.objects.create(
        organization=gateway_session.organization,
        session=gateway_session,
        group_jid="120363000000000001@g.us",
        group_name="Nova Lights Community",
        is_community=True,
    )
    serve_groups(gateway_session, "groups")

    result = group_sync(session=gateway_session)

    assert result.saved_count == 6
    parent = WhatsAppGroup.objects.get(group_jid="120363000000000001@g.us")
    assert parent.is_active is False


def test_it_keeps_one_row_per_jid_when_the_gateway_lists_duplicates(gateway_session, serve_groups):
    serve_groups(gateway_session, "groups_duplicates")

    result = group_sync(session=gateway_session)

    assert result.vps_count == 6
    assert result.duplicate_count == 3
    assert result.skipped_community_parents == 1
    assert result.saved_count == 2
    rows = stored(gateway_session)
    assert set(rows) == {"120363000000000003@g.us", "120363000000000006@g.us"}
    # The first entry of a JID wins.
    assert rows["120363000000000003@g.us"]["group_name"] == "Tour Crew 2026"


def test_it_skips_a_jid_that_any_entry_calls_a_community_parent(gateway_session, serve_groups):
    payload = load_payload("groups")
    payload["groups"].append(dict(payload["groups"][2], isCommunity=True))  # Tour Crew as parent
    serve_groups(gateway_session, payload)

    result = group_sync(session=gateway_session)

    assert "120363000000000003@g.us" not in stored(gateway_session)
    assert result.skipped_community_parents == 3
    assert result.saved_count == 5


def test_it_skips_entries_that_are_no_group_jid_and_bounds_odd_values(
    gateway_session, serve_groups
):
    """One odd entry from the gateway must not turn the whole sync into a database error."""
    payload = make_groups(2)
    base = payload["groups"][0]
    payload["groups"] += [
        dict(base, id="1" * 120 + "@g.us"),  # longer than the column
        dict(base, id="4915123456789@s.whatsapp.net"),  # a contact, not a group
        dict(base, id="@g.us"),
        dict(base, id="  "),
        dict(base, id="120363\udfb8@g.us"),  # a lone surrogate cannot be stored
    ]
    payload["groups"][0].update(subject="Nul\u0000Name " + "x" * 300, size=2**40)
    payload["groups"][1].update(subject="Broken \udfb8 emoji")
    serve_groups(gateway_session, payload)

    result = group_sync(session=gateway_session)

    assert (result.vps_count, result.saved_count, result.invalid_count) == (7, 2, 5)
    rows = stored(gateway_session)
    assert set(rows) == {g["id"] for g in payload["groups"][:2]}
    odd = rows[payload["groups"][0]["id"]]
    assert odd["group_name"].startswith("Nul\ufffdName x")
    assert len(odd["group_name"]) <= 255
    assert odd["participant_count"] == 2_147_483_647
    assert rows[payload["groups"][1]["id"]]["group_name"] == "Broken \ufffd emoji"


def test_it_scopes_rows_to_the_session(organization, gateway_session, serve_groups):
    other = factories.session_create(organization=organization)
    serve_groups(gateway_session, "groups")
    serve_groups(other, make_groups(3))
    group_sync(session=other)

    group_sync(session=gateway_session)
    serve_groups(other, make_groups(2))
    result = group_sync(session=other)

    assert result.saved_count == 2
    assert len(stored(gateway_session)) == 6
    assert all(row["is_active"] for row in stored(gateway_session).values())


def test_it_writes_with_on_conflict_on_the_real_unique_constraint(
    gateway_session, serve_groups, is_postgres
):
    serve_groups(gateway_session, "groups")
    with CaptureQueriesContext(connection) as ctx:
        group_sync(session=gateway_session)

    inserts = [q["sql"] for q in ctx.captured_queries if q["sql"].startswith("INSERT")]
    assert len(inserts) == 1
    assert 'ON CONFLICT("session_id", "group_jid") DO UPDATE' in inserts[0]


@pytest.mark.parametrize("count", [10, 5000])
@pytest.mark.postgres
def test_it_uses_the_same_number_of_queries_whatever_the_group_count(
    count, gateway_session, serve_groups, django_assert_max_num_queries
):
    # SQLite caps the parameters of one statement (Django splits bulk inserts there),
    # so the constant-query guarantee is a Postgres one.
    serve_groups(gateway_session, make_groups(count))
    with django_assert_max_num_queries(8):
        first = group_sync(session=gateway_session)
    with django_assert_max_num_queries(8):
        again = group_sync(session=gateway_session)

    assert first.saved_count == again.saved_count == count


@pytest.mark.parametrize(
    ("answer", "code"),
    [
        (
            {"body": requests.exceptions.ConnectionError("[Errno 111] Connection refused")},
            "unreachable",
        ),
        ({"body": requests.exceptions.ConnectTimeout()}, "unreachable"),
        ({"body": requests.exceptions.ReadTimeout()}, "timeout"),
        ({"status": 500, "json": {"error": "internal"}}, "server_error"),
        ({"status": 502, "body": "<html>Bad Gateway</html>"}, "server_error"),
        ({"status": 503, "json": {"error": "Session not connected"}}, "not_connected"),
        ({"status": 200, "body": "<html>not json</html>"}, "bad_response"),
        ({"status": 200, "json": {"items": []}}, "bad_response"),
        ({"status": 200, "json": {"groups": {"a": 1}}}, "bad_response"),
        ({"status": 200, "json": {"groups": [{"subject": "no id"}]}}, "bad_response"),
    ],
    ids=[
        "refused",
        "connect-timeout",
        "read-timeout",
        "500",
        "502-html",
        "503",
        "not-json",
        "no-groups-key",
        "groups-not-a-list",
        "entry-without-id",
    ],
)
def test_it_raises_gateway_errors_and_changes_nothing(
    answer, code, gateway_session, serve_groups, mocked_gateway
):
    serve_groups(gateway_session, "groups")
    group_sync(session=gateway_session)
    before = stored(gateway_session)

    serve_groups(gateway_session, None, **answer)
    with pytest.raises(GatewayError) as excinfo:
        group_sync(session=gateway_session)

    assert excinfo.value.code == code
    assert stored(gateway_session) == before


def test_it_records_not_connected_on_the_session(gateway_session, serve_groups):
    serve_groups(gateway_session, None, status=503, json={"error": "Session not connected"})

    with pytest.raises(GatewayError):
        group_sync(session=gateway_session)

    gateway_session.refresh_from_db()
    assert "not connected" in gateway_session.last_error
    assert gateway_session.last_error_at is not None


@pytest.mark.postgres
@pytest.mark.parametrize("sqlstate", ["23505", "42P10"])
def test_it_raises_the_sqlstate_and_leaves_rows_as_they_were(
    sqlstate, gateway_session, serve_groups, failing_trigger
):
    serve_groups(gateway_session, "groups")
    group_sync(session=gateway_session)
    before = stored(gateway_session)
    payload = load_payload("groups")
    payload["groups"] = payload["groups"][:4]  # renames nothing, would deactivate some
    payload["groups"][2]["subject"] = "Renamed"
    serve_groups(gateway_session, payload)
    failing_trigger(sqlstate)

    with pytest.raises(GroupSyncDatabaseError) as excinfo:
        group_sync(session=gateway_session)

    assert excinfo.value.code == sqlstate
    assert "simulated failure" in excinfo.value.message
    assert stored(gateway_session) == before


@pytest.mark.postgres
def test_it_reports_42p10_when_the_unique_constraint_is_missing(gateway_session, serve_groups):
    """The old bug: ON CONFLICT named columns without a matching unique constraint."""
    with connection.cursor() as cursor:
        cursor.execute(
            "ALTER TABLE whatsapp_groups DROP CONSTRAINT whatsapp_groups_session_id_group_jid_key"
        )
    serve_groups(gateway_session, "groups")

    with pytest.raises(GroupSyncDatabaseError) as excinfo:
        group_sync(session=gateway_session)

    assert excinfo.value.code == "42P10"
    assert WhatsAppGroup.objects.count() == 0


@pytest.mark.postgres
def test_it_never_reports_success_when_the_rows_are_not_in_the_database(
    gateway_session, serve_groups, dropping_trigger
):
    dropping_trigger()
    serve_groups(gateway_session, "groups")

    with pytest.raises(GroupSyncDatabaseError) as excinfo:
        group_sync(session=gateway_session)

    assert excinfo.value.code == "count_mismatch"
    assert excinfo.value.details == {"expected": 6, "found": 0}


def test_it_saves_28_of_the_simulators_30_groups(organization, gateway_simulator):
    session = factories.session_create(organization=organization, session_id="wa_demo_groups_1")

    result = group_sync(session=session)

    assert (result.vps_count, result.saved_count, result.skipped_community_parents) == (30, 28, 2)
    rows = stored(session)
    assert len(rows) == 28
    assert sum(row["is_community_announce"] for row in rows.values()) == 3
    assert not any(row["is_community"] for row in rows.values())


def test_it_fails_without_changes_when_the_simulator_says_not_connected(
    organization, gateway_simulator
):
    session = factories.session_create(organization=organization, session_id="wa_demo_groups_2")
    group_sync(session=session)
    before = stored(session)
    gateway_simulator.disconnect("wa_demo_groups_2", error="Connection closed by WhatsApp")

    with pytest.raises(GatewayError) as excinfo:
        group_sync(session=session)

    assert excinfo.value.code == "not_connected"
    assert stored(session) == before
