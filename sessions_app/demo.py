"""Demo sessions for `manage.py seed_demo` (idempotent; works without the simulator running)."""

from __future__ import annotations

from datetime import timedelta
from typing import TextIO

from django.utils import timezone

from demo_data import (
    DEMO_MAIN_SESSION_ID,
    DEMO_OLD_SESSION_ERROR,
    DEMO_OLD_SESSION_FORMER_ID,
    DEMO_OLD_SESSION_ID,
)
from gateways_app.clients import gateway_for
from sessions_app import services
from sessions_app.models import WhatsAppSession
from whatsapp_crm.gateway import GatewayError
from whatsapp_crm.models import Organization

MAIN_SESSION_ID = DEMO_MAIN_SESSION_ID
# Not a "wa_demo…" id: the simulator does not know it, so it verifies as disconnected (demo_data.py).
OLD_SESSION_ID = DEMO_OLD_SESSION_ID


def seed(*, organization: Organization, stdout: TextIO) -> None:
    main, created = WhatsAppSession.objects.get_or_create(
        session_id=MAIN_SESSION_ID,
        defaults={
            "organization": organization,
            "name": "Main number",
            "status": WhatsAppSession.Status.CONNECTED,
        },
    )
    if main.organization_id == organization.id and not main.phone_number:
        # The simulator derives the number from the session id; ask it when it is running.
        # Otherwise the verification on the first page load fills it in.
        try:
            status = gateway_for(main).get_status(MAIN_SESSION_ID)
        except GatewayError as exc:
            stdout.write(f"  sessions: gateway not reachable ({exc.message}); number filled later")
        else:
            if status.status == WhatsAppSession.Status.CONNECTED:
                services.session_mark_connected(session=main, phone_number=status.phone_number)

    # Databases seeded before: the old number's former id verified as connected at the simulator.
    if not WhatsAppSession.objects.filter(session_id=OLD_SESSION_ID).exists():
        WhatsAppSession.objects.filter(
            session_id=DEMO_OLD_SESSION_FORMER_ID, organization=organization
        ).update(session_id=OLD_SESSION_ID)
    old, old_created = WhatsAppSession.objects.get_or_create(
        session_id=OLD_SESSION_ID,
        defaults={
            "organization": organization,
            "name": "Old number",
            "status": WhatsAppSession.Status.DISCONNECTED,
            "last_error": DEMO_OLD_SESSION_ERROR,
            "last_error_at": timezone.now() - timedelta(days=3, hours=4),
        },
    )
    if old_created:  # an older session than the main one, as its name says
        WhatsAppSession.objects.filter(pk=old.pk).update(
            created_at=timezone.now() - timedelta(days=40)
        )
    if created or old_created:
        stdout.write(f"  sessions: {MAIN_SESSION_ID} (connected), {OLD_SESSION_ID} (logged out)")
