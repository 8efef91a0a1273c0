"""Run the gateway + WHAPI simulator (`gateway_simulator/`) in the foreground: the one way to
start it outside the tests (docs/gateway-simulator.md)."""

from __future__ import annotations

import signal
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from gateway_simulator import GatewaySimulator


def _setting(name: str, default: Any = None) -> Any:
    return getattr(settings, name, default)


class Command(BaseCommand):
    help = "Run the WhatsApp gateway simulator (gateway protocol, webhooks, WHAPI members)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=9100)
        parser.add_argument(
            "--webhook-base",
            default="http://127.0.0.1:8000",
            help="Base URL of the CRM that receives the webhooks; '' sends none.",
        )
        parser.add_argument(
            "--connect-after",
            type=float,
            default=3.0,
            help="Seconds from POST /sessions until the session connects; 0 = only by control call.",
        )
        parser.add_argument(
            "--late-error-delay",
            type=float,
            default=1.0,
            help="Seconds until the 420 webhook for a send to a community parent or rejected JID.",
        )
        parser.add_argument(
            "--idempotent",
            action="store_true",
            default=None,
            help="De-duplicate /send by clientMessageId (default: GATEWAY_SEND_IDEMPOTENT).",
        )
        parser.add_argument(
            "--dialect",
            choices=("vps", "waha", "evolution"),
            default=None,
            help="The gateway API it speaks (default: SIMULATOR_DIALECT, else vps).",
        )
        parser.add_argument(
            "--variant",
            default=None,
            help="The engine variant of the dialect, e.g. WEBJS|NOWEB|GOWS or 2.3|2.2 "
            "(default: SIMULATOR_VARIANT, else the dialect's first).",
        )
        parser.add_argument(
            "--no-auto-acks",
            dest="auto_acks",
            action="store_false",
            help="Send no receipts by themselves after a send (server, delivered, ~30%% read); "
            "then only /_control/messages/{id}/ack sends them.",
        )
        parser.add_argument(
            "--auto-ack-delay",
            type=float,
            default=1.0,
            help="Scale of the auto-acks' delays in seconds (delivered after ~1 s, read ~2 s later).",
        )
        parser.add_argument("--quiet", action="store_true", help="No log line per request.")

    def handle(self, *args: Any, **options: Any) -> None:
        idempotent = options["idempotent"]
        if idempotent is None:
            idempotent = bool(_setting("GATEWAY_SEND_IDEMPOTENT", False))
        try:
            sim = GatewaySimulator(
                host=options["host"],
                port=options["port"],
                api_key=_setting("GATEWAY_API_KEY") or "dev-gateway-key",
                webhook_base=options["webhook_base"] or None,
                webhook_api_key=_setting("WEBHOOK_API_KEY") or "dev-webhook-key",
                webhook_hmac_secret=_setting("WEBHOOK_HMAC_SECRET") or None,
                whapi_token=_setting("WHAPI_TOKEN") or None,
                connect_after=options["connect_after"],
                late_error_delay=options["late_error_delay"],
                idempotent=idempotent,
                auto_acks=options["auto_acks"],
                auto_ack_delay=options["auto_ack_delay"],
                quiet=options["quiet"],
                dialect=options["dialect"],
                variant=options["variant"],
            )
        except ValueError as exc:  # an unknown variant
            raise CommandError(str(exc)) from exc
        except OSError as exc:
            raise CommandError(
                f"Cannot listen on {options['host']}:{options['port']}: {exc}"
            ) from exc

        self.stdout.write(self._banner(sim))
        self.stdout.flush()

        # honcho stops processes with SIGTERM: leave as quietly as on Ctrl-C. SIGINT is set too,
        # because a shell ignores it for jobs it starts in the background (`cmd &` in a Makefile).
        def _terminate(signum: int, frame: Any) -> None:
            raise KeyboardInterrupt

        signal.signal(signal.SIGTERM, _terminate)
        signal.signal(signal.SIGINT, _terminate)
        try:
            sim.serve_forever()
        except KeyboardInterrupt:
            sim.stop()
            self.stdout.write("Gateway simulator stopped.")

    def _banner(self, sim: GatewaySimulator) -> str:
        webhooks = sim.webhook_base or "off"
        hmac_note = " (signed with X-Webhook-Hmac)" if sim.webhook_hmac_secret else ""
        return "\n".join(
            [
                self.style.SUCCESS(f"Gateway simulator listening on {sim.url}"),
                f"  WHAPI:        {sim.whapi_url}  (set WHAPI_URL to this)",
                f"  Webhooks to:  {webhooks}{hmac_note}",
                f"  Sessions connect {sim.connect_after:g} s after POST /sessions; "
                f"ids starting with 'wa_demo' are always connected.",
                f"  Idempotent /send: {'yes' if sim.idempotent else 'no'}",
                "",
                "Try:",
                f"  curl -s {sim.url}/_control/state",
                f"  curl -s -X POST {sim.url}/_control/sessions/wa_demo_main/disconnect "
                '-d \'{"error": "Phone offline"}\'',
                f"  curl -s -X POST {sim.url}/_control/sessions/wa_demo_main/connect",
                f'  curl -s -X POST {sim.url}/_control/reject -d \'{{"jid": "120363000000000001@g.us"}}\'',
                f"  curl -s -X POST {sim.url}/_control/failures "
                '-d \'{"path": "^/send$", "status": 500, "times": 3}\'',
                "Ctrl-C stops it.",
                "",
            ]
        )
