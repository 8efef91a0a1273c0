"""Settings, read from the environment (names: shared/INTERFACE.md §2).

Embedded default (nothing set): SQLite under var/, a Celery broker on the filesystem (no server),
the gateway simulator on 127.0.0.1:9100. With DJANGO_DEBUG off, secrets must be set explicitly.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import environ
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env")  # optional; real environment variables win

DEBUG = env.bool("DJANGO_DEBUG", default=False)

# Development-only values: used solely when DJANGO_DEBUG is on. With debug off a missing secret
# stops the process at start-up, naming the variable, instead of running with a public default.
_DEV_DEFAULTS = {
    "DJANGO_SECRET_KEY": "dev-insecure-secret-key-change-me",
    "GATEWAY_API_KEY": "dev-gateway-key",
    "WEBHOOK_API_KEY": "dev-webhook-key",
}


def _secret(name: str) -> str:
    value = env.str(name, default="")
    if value:
        return value
    if DEBUG:
        return _DEV_DEFAULTS[name]
    raise ImproperlyConfigured(
        f"{name} is not set. Set it in the environment (see .env.example), "
        "or set DJANGO_DEBUG=true for local development with demo values."
    )


SECRET_KEY = _secret("DJANGO_SECRET_KEY")
GATEWAY_API_KEY = _secret("GATEWAY_API_KEY")
WEBHOOK_API_KEY = _secret("WEBHOOK_API_KEY")
WEBHOOK_HMAC_SECRET = env.str("WEBHOOK_HMAC_SECRET", default="") or None

ALLOWED_HOSTS = env.list(
    "DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"] if DEBUG else []
)
if not DEBUG and not ALLOWED_HOSTS:
    ALLOWED_HOSTS = ["127.0.0.1", "localhost"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "axes",
    "django_htmx",
    "whatsapp_crm",
    "sessions_app",
    "groups_app",
    "campaigns_app",
    "artists_app",
    "gateways_app",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "whatsapp_crm.tenancy.OrganizationMiddleware",
    "whatsapp_crm.timezones.OrganizationTimeZoneMiddleware",
    "whatsapp_crm.ui.HtmxMessagesMiddleware",
    # Last, as django-axes asks: it turns a locked-out login into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "whatsapp_crm.urls"
WSGI_APPLICATION = "whatsapp_crm.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "whatsapp_crm.tenancy.organization_context",
                "whatsapp_crm.roles.role_context",
                "whatsapp_crm.health.stalled_banner",
                "sessions_app.context_processors.sessions_down_banner",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------
DATABASES = {"default": env.db_url("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    _name = Path(DATABASES["default"]["NAME"])
    if not _name.is_absolute() and str(_name) != ":memory:":
        DATABASES["default"]["NAME"] = str(BASE_DIR / _name)
    # Web, worker and beat share one file: WAL + IMMEDIATE transactions avoid "database is locked".
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
else:
    DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("DJANGO_CONN_MAX_AGE", default=60))
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
IS_POSTGRES = DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# --- Content-Security-Policy (django-csp) -----------------------------------------------------
# Scripts only from our own static files: no inline script, no inline event handler, no eval
# (htmx's hx-on is not used; app.js wires data attributes instead). Inline *styles* stay allowed:
# htmx injects its indicator style and templates use style attributes; they cannot run code.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}

# --- Login throttling (django-axes, INTERFACE.md §10) -----------------------------------------
# 5 failed attempts for one username lock that username for 15 minutes, on the app's login and
# the admin's alike; a successful login before that clears the count.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = 5  # the login page says "5" and "15 minutes"
AXES_COOLOFF_TIME = timedelta(minutes=15)
AXES_LOCKOUT_PARAMETERS = ["username"]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_VERBOSE = False
# axes.W006 suggests also locking by IP address. Deliberately not: staff often share one office
# IP (NAT), and one person's typos must not lock out the whole team. Per-IP rate limiting belongs
# to the reverse proxy (docs/operations.md, "Security checks").
SILENCED_SYSTEM_CHECKS = ["axes.W006"]

LANGUAGE_CODE = "en-us"
TIME_ZONE = env.str("DJANGO_TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # whitenoise warns at every start without it
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
if DEBUG:
    STORAGES["staticfiles"] = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "login"

# --- HTTPS (off: plain HTTP on loopback or behind a TLS-terminating proxy) --------------------
DJANGO_HTTPS = env.bool("DJANGO_HTTPS", default=False)
if DJANGO_HTTPS:
    SECURE_SSL_REDIRECT = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = 60 * 60 * 24 * 30
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

# --- Gateway (the VPS) and WHAPI --------------------------------------------------------------
GATEWAY_URL = env.str("GATEWAY_URL", default="http://127.0.0.1:9100").rstrip("/")
GATEWAY_BACKEND = env.str("GATEWAY_BACKEND", default="vps")
# WAHA Core serves one session, named "default": every CRM session then maps to it.
WAHA_SINGLE_SESSION = env.bool("WAHA_SINGLE_SESSION", default=False)
GATEWAY_TIMEOUT_SECONDS = env.float("GATEWAY_TIMEOUT_SECONDS", default=10.0)
GATEWAY_SEND_IDEMPOTENT = env.bool("GATEWAY_SEND_IDEMPOTENT", default=False)
# The URL at which gateways reach the CRM (e.g. https://crm.example.com). When set, creating a
# session on WAHA or Evolution API registers the CRM's webhook receiver with the gateway.
PUBLIC_BASE_URL = env.str("PUBLIC_BASE_URL", default="").rstrip("/")
# Fernet keys (comma-separated, newest first) that encrypt gateway API keys and webhook secrets
# at rest (gateways_app/crypto.py). Unset: one key derived from DJANGO_SECRET_KEY.
GATEWAY_SECRETS_KEYS = env.list("GATEWAY_SECRETS_KEYS", default=[])
WHAPI_URL = env.str("WHAPI_URL", default="https://gate.whapi.cloud").rstrip("/")
WHAPI_TOKEN = env.str("WHAPI_TOKEN", default="")
# bench/bench_webhooks.py only: routes its yardstick, a bare DRF view, at /bench/bare/.
BENCH_BARE_VIEW = env.bool("BENCH_BARE_VIEW", default=False)
# Where member syncs read group members: `whapi` (WHAPI_URL/WHAPI_TOKEN) or `gateway` (a connected
# WhatsApp session of the artist's organization, INTERFACE §9).
MEMBER_SOURCE = env.str("MEMBER_SOURCE", default="whapi").strip().lower()
if MEMBER_SOURCE not in ("whapi", "gateway"):
    raise ImproperlyConfigured(f"MEMBER_SOURCE must be whapi or gateway, not {MEMBER_SOURCE!r}")
WHAPI_TIMEOUT_SECONDS = env.float("WHAPI_TIMEOUT_SECONDS", default=15.0)
WHAPI_CONCURRENCY = env.int("WHAPI_CONCURRENCY", default=8)
DEFAULT_PHONE_REGION = env.str("DEFAULT_PHONE_REGION", default="DE").upper()

# --- Queue ------------------------------------------------------------------------------------
QUEUE_DISPATCH_INTERVAL_SECONDS = env.float("QUEUE_DISPATCH_INTERVAL_SECONDS", default=5)
QUEUE_MAX_RETRIES = env.int("QUEUE_MAX_RETRIES", default=5)
QUEUE_BATCH_SIZE = env.int("QUEUE_BATCH_SIZE", default=50)
# A claim without its worker's heartbeat expires after this (docs/reliability.md: fast recovery).
QUEUE_LEASE_SECONDS = env.int("QUEUE_LEASE_SECONDS", default=15)
# Sends per session per minute; 0 disables the limit (benchmarks only).
QUEUE_SESSION_RATE_PER_MINUTE = env.int("QUEUE_SESSION_RATE_PER_MINUTE", default=20)
# Back-off after a temporary failure (503 not connected): base * 2^retries, capped, with jitter.
QUEUE_RETRY_BASE_SECONDS = env.float("QUEUE_RETRY_BASE_SECONDS", default=30)
QUEUE_RETRY_MAX_SECONDS = env.float("QUEUE_RETRY_MAX_SECONDS", default=900)
# How many batches one dispatch tick hands to the workers.
QUEUE_DISPATCH_BATCHES = env.int("QUEUE_DISPATCH_BATCHES", default=4)

# --- Retention (INTERFACE.md §10; queue rows and campaigns are kept) ---------------------------
RETENTION_WEBHOOK_EVENTS_DAYS = env.int("RETENTION_WEBHOOK_EVENTS_DAYS", default=30)
RETENTION_TASK_RUNS_DAYS = env.int("RETENTION_TASK_RUNS_DAYS", default=30)

# --- Celery -----------------------------------------------------------------------------------
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="filesystem://")
if CELERY_BROKER_URL.startswith("filesystem://"):
    _broker_dir = Path(
        env.str("CELERY_FILESYSTEM_BROKER_DIR", default=str(VAR_DIR / "celery-broker"))
    )
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir),
        "data_folder_out": str(_broker_dir),
        "processed_folder": str(_broker_dir.parent / "celery-processed"),
        "store_processed": False,
        "control_folder": str(_broker_dir.parent / "celery-control"),
    }
    for _folder in (
        _broker_dir,
        _broker_dir.parent / "celery-processed",
        _broker_dir.parent / "celery-control",
    ):
        _folder.mkdir(parents=True, exist_ok=True)
else:
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
# Task state lives in our own tables (task_runs, queue rows); no result backend is needed.
CELERY_TASK_IGNORE_RESULT = True
CELERY_RESULT_BACKEND = None
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = 5 * 60
CELERY_TASK_SOFT_TIME_LIMIT = 4 * 60
CELERY_TIMEZONE = TIME_ZONE
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
# The one place where periodic work is scheduled.
CELERY_BEAT_SCHEDULE = {
    "queue-dispatch": {
        "task": "campaigns_app.tasks.queue_dispatch",
        "schedule": QUEUE_DISPATCH_INTERVAL_SECONDS,
        "options": {"expires": max(QUEUE_DISPATCH_INTERVAL_SECONDS * 2, 10)},
    },
    "queue-reap": {
        "task": "campaigns_app.tasks.queue_reap",
        "schedule": 30.0,
        "options": {"expires": 60},
    },
    "sessions-verify-connected": {
        "task": "sessions_app.tasks.sessions_verify_connected",
        "schedule": 300.0,
        "options": {"expires": 300},
    },
    "group-members-sync-all": {
        "task": "artists_app.tasks.group_members_sync_all",
        "schedule": crontab(hour=2, minute=0),
    },
    "records-prune": {
        "task": "whatsapp_crm.tasks.records_prune",
        "schedule": crontab(hour=3, minute=30),
    },
    "group-members-cleanup-stale": {
        "task": "artists_app.tasks.group_members_cleanup_stale",
        "schedule": crontab(hour=3, minute=0),
    },
}

# --- DRF --------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["whatsapp_crm.permissions.IsOrganizationMember"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 100,
    "DEFAULT_SCHEMA_CLASS": "whatsapp_crm.api.AutoSchema",
    "DEFAULT_PARSER_CLASSES": [
        "whatsapp_crm.parsers.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "EXCEPTION_HANDLER": "whatsapp_crm.api.exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "whatsapp_crm API",
    "DESCRIPTION": "Staff JSON API and gateway webhooks (see shared/INTERFACE.md §5–§6).",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI from the drf-spectacular-sidecar package: /api/docs/ works offline.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "PREPROCESSING_HOOKS": ["whatsapp_crm.api.schema_without_slashless_routes"],
    "ENUM_NAME_OVERRIDES": {
        "CampaignStatusEnum": "campaigns_app.models.NotificationCampaign.Status",
        "WhatsAppSessionStatusEnum": "sessions_app.models.WhatsAppSession.Status",
    },
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("DJANGO_LOG_LEVEL", default="INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # django-axes logs every login and session reset at INFO; failures stay visible.
        "axes": {"level": "WARNING"},
    },
}
if CELERY_BROKER_URL.startswith("filesystem://"):
    # The filesystem broker has no host; kombu warns about that on every connection.
    LOGGING["loggers"]["kombu.connection"] = {"level": "ERROR"}
