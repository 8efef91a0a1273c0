"""Demo data for `make run`: an organization with a login, then each app's own demo rows.

Each app may provide `<app>/demo.py` with `seed(*, organization, stdout) -> None`; they run in
the order of INSTALLED_APPS. Running the command again changes nothing that already exists.
"""

from __future__ import annotations

import importlib

from django.apps import apps
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from whatsapp_crm.models import Organization, OrganizationMember

DEMO_USERNAME = "demo"
DEMO_PASSWORD = "demo-password"
DEMO_ORGANIZATION = "Demo Records GmbH"


class Command(BaseCommand):
    help = "Create demo data (organization, login, sessions, artists). Safe to run repeatedly."

    def handle(self, *args, **options) -> None:
        with transaction.atomic():
            organization, _ = Organization.objects.get_or_create(
                name=DEMO_ORGANIZATION, defaults={"phone_region": "DE"}
            )
            user_model = get_user_model()
            user, created = user_model.objects.get_or_create(
                username=DEMO_USERNAME,
                defaults={"is_staff": True, "is_superuser": True, "email": "demo@example.com"},
            )
            if created:
                user.set_password(DEMO_PASSWORD)
                user.save()
            OrganizationMember.objects.get_or_create(
                user=user,
                defaults={"organization": organization, "role": OrganizationMember.Role.OWNER},
            )

        for app_config in apps.get_app_configs():
            try:
                module = importlib.import_module(f"{app_config.name}.demo")
            except ModuleNotFoundError as exc:
                if exc.name != f"{app_config.name}.demo":
                    raise
                continue
            module.seed(organization=organization, stdout=self.stdout)

        self.stdout.write(
            self.style.SUCCESS(
                f"Demo data ready. Log in at http://127.0.0.1:8000/ as "
                f"{DEMO_USERNAME} / {DEMO_PASSWORD}"
            )
        )
