"""Test settings: the real settings with test secrets, so the suite runs with DJANGO_DEBUG off."""

from __future__ import annotations

import os

os.environ.setdefault("DJANGO_SECRET_KEY", "test-secret-key-not-for-production")
os.environ.setdefault("GATEWAY_API_KEY", "test-gateway-key")
os.environ.setdefault("WEBHOOK_API_KEY", "test-webhook-key")
os.environ.setdefault("GATEWAY_URL", "http://gateway.test")
os.environ.setdefault("WHAPI_URL", "http://whapi.test")
os.environ.setdefault("WHAPI_TOKEN", "test-whapi-token")
os.environ.setdefault("DJANGO_ALLOWED_HOSTS", "testserver,127.0.0.1,localhost")

from whatsapp_crm.settings import *  # noqa: E402,F403

# Fast hashing keeps user fixtures cheap.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# Tasks queued from code under test are recorded, not sent to a broker (tests call them directly).
CELERY_TASK_ALWAYS_EAGER = False
CELERY_BROKER_URL = "memory://"
CELERY_BROKER_TRANSPORT_OPTIONS = {}

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # noqa: F405
    # A file, not the in-memory default: the live test server's threads (webhooks from the
    # simulator) then wait on SQLite's lock (timeout, WAL) instead of failing "table is locked".
    # One file per test process, so that two runs in one checkout never share (and break) it;
    # pytest-django deletes it at the end of the run.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / f"test-db-{os.getpid()}.sqlite3")}  # noqa: F405
