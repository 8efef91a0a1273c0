from __future__ import annotations

import pytest
import requests
import responses

from whatsapp_crm.whapi import WhapiClient, WhapiError

BASE = "http://whapi.test"


@pytest.fixture
def whapi() -> WhapiClient:
    return WhapiClient(base_url=BASE, token="tok", timeout=2.0)


def test_it_fetches_members_with_the_bearer_token(mocked_gateway, whapi):
    mocked_gateway.get(
        f"{BASE}/groups/120363000000000101@g.us",
        json={
            "id": "120363000000000101@g.us",
            "name": "Band",
            "participants": [
                {"id": "4915112345678", "rank": "creator"},
                {"id": "999@lid", "rank": "weird"},
            ],
        },
        match=[responses.matchers.header_matcher({"Authorization": "Bearer tok"})],
    )
    group = whapi.get_group("120363000000000101")
    assert group.name == "Band"
    assert [(p.id, p.rank, p.is_privacy_id) for p in group.participants] == [
        ("4915112345678", "creator", False),
        ("999@lid", "member", True),
    ]


def test_it_reports_429_with_retry_after(mocked_gateway, whapi):
    mocked_gateway.get(f"{BASE}/groups/1@g.us", status=429, headers={"Retry-After": "2"}, json={})
    with pytest.raises(WhapiError) as err:
        whapi.get_group("1@g.us")
    assert err.value.rate_limited and err.value.retry_after == 2.0
    assert not err.value.permanent


@pytest.mark.parametrize(("status", "permanent"), [(401, True), (404, True), (500, False)])
def test_it_maps_http_errors(mocked_gateway, whapi, status, permanent):
    mocked_gateway.get(f"{BASE}/groups/1@g.us", status=status, json={"error": "x"})
    with pytest.raises(WhapiError) as err:
        whapi.get_group("1")
    assert err.value.permanent is permanent
    assert err.value.status_code == status


def test_it_maps_network_failures_and_bad_bodies(mocked_gateway, whapi):
    mocked_gateway.get(f"{BASE}/groups/1@g.us", body=requests.exceptions.ConnectionError("refused"))
    with pytest.raises(WhapiError, match="unreachable"):
        whapi.get_group("1")
    mocked_gateway.replace(responses.GET, f"{BASE}/groups/1@g.us", body="<html>")
    with pytest.raises(WhapiError, match="participants"):
        whapi.get_group("1")
