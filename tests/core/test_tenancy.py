from __future__ import annotations

import uuid

import pytest
from django.urls import reverse

from whatsapp_crm.models import TaskRun


@pytest.fixture
def other_run(other_organization):
    return TaskRun.objects.create(organization=other_organization, kind="demo")


def test_it_redirects_anonymous_users_to_login(client):
    response = client.get("/settings/whatsapp/")
    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


def test_it_shows_the_users_own_organization(logged_in_client, organization):
    response = logged_in_client.get("/settings/whatsapp/")
    assert response.status_code == 200
    assert organization.name in response.content.decode()


def test_it_answers_404_for_a_user_without_organization(client, django_user_model):
    loner = django_user_model.objects.create_user(username="loner", password="pw-123456")
    client.force_login(loner)
    assert client.get("/settings/whatsapp/").status_code == 404


def test_it_hides_another_organizations_task_from_the_api(api_client, other_run):
    response = api_client.get(f"/api/tasks/{other_run.id}/")
    assert response.status_code == 404
    assert response.json()["success"] is False


def test_it_serves_the_callers_own_task(api_client, organization):
    run = TaskRun.objects.create(organization=organization, kind="demo", done=3, total=7)
    response = api_client.get(f"/api/tasks/{run.id}")  # no trailing slash works too
    assert response.status_code == 200
    body = response.json()
    assert body["state"] == "PENDING"
    assert body["progress"] == {"done": 3, "total": 7}


def test_it_rejects_api_calls_without_credentials(client):
    response = client.get(f"/api/tasks/{uuid.uuid4()}/")
    assert response.status_code in (401, 403)
    assert response.json()["success"] is False
