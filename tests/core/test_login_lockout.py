"""Login throttling (django-axes): 5 failures for a username lock it for 15 minutes, on the app's
login and on the admin's (INTERFACE.md §10)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.utils import timezone

from tests import factories

PASSWORD = "correct horse battery staple"


@pytest.fixture
def staff_user(organization):
    user = factories.user_create(organization=organization, username="carol")
    user.set_password(PASSWORD)
    user.is_staff = True
    user.save()
    return user


def _login(client, url, username, password):
    return client.post(url, {"username": username, "password": password})


@pytest.mark.parametrize("url", ["/accounts/login/", "/admin/login/"])
def test_it_refuses_the_right_password_after_ten_wrong_ones(client, staff_user, url):
    for _ in range(10):
        _login(client, url, "carol", "wrong password")

    response = _login(client, url, "carol", PASSWORD)

    assert response.status_code == 429
    assert "_auth_user_id" not in client.session
    text = response.content.decode()
    assert "Too many failed logins" in text
    assert "locked for 15 minutes" in text


def test_it_still_lets_the_fourth_attempt_through_with_the_right_password(client, staff_user):
    for _ in range(4):
        assert _login(client, "/accounts/login/", "carol", "nope").status_code == 200

    response = _login(client, "/accounts/login/", "carol", PASSWORD)

    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(staff_user.pk)


def test_it_locks_only_that_username(client, staff_user, organization):
    other = factories.user_create(organization=organization, username="dave")
    other.set_password(PASSWORD)
    other.save()
    for _ in range(5):
        _login(client, "/accounts/login/", "carol", "nope")

    response = _login(client, "/accounts/login/", "dave", PASSWORD)

    assert response.status_code == 302


def test_it_lets_the_user_in_again_after_the_lockout(client, staff_user):
    for _ in range(5):
        _login(client, "/accounts/login/", "carol", "nope")
    assert _login(client, "/accounts/login/", "carol", PASSWORD).status_code == 429

    AccessAttempt.objects.update(attempt_time=timezone.now() - timedelta(minutes=16))
    response = _login(client, "/accounts/login/", "carol", PASSWORD)

    assert response.status_code == 302


def test_the_login_page_says_how_the_lock_works(client, db):
    response = client.get("/accounts/login/")

    assert "After 5 wrong passwords in a row a username is locked for 15 minutes." in (
        response.content.decode()
    )


@pytest.mark.parametrize("password", ["12345678901234", "password123"])
def test_it_refuses_common_and_numeric_passwords(password):
    from django.contrib.auth.password_validation import validate_password
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError):
        validate_password(password)
