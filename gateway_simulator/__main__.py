"""`python -m gateway_simulator [--dialect vps|waha|evolution] [--variant ...]`: the simulator
without Django (the keys from the environment: GATEWAY_API_KEY, WEBHOOK_API_KEY,
WEBHOOK_HMAC_SECRET, WHAPI_TOKEN). `manage.py run_gateway_simulator` reads the Django settings
instead and takes the dialect from SIMULATOR_DIALECT / SIMULATOR_VARIANT."""

from __future__ import annotations

import argparse
import os
import signal
import sys
from typing import Any

from gateway_simulator.dialects import DIALECTS, make_dialect
from gateway_simulator.server import GatewaySimulator


def main(argv: list[str] | None = None) -> int:
    env = os.environ.get
    parser = argparse.ArgumentParser(prog="python -m gateway_simulator", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9100)
    parser.add_argument(
        "--dialect", default=env("SIMULATOR_DIALECT") or "vps", choices=sorted(DIALECTS)
    )
    parser.add_argument(
        "--variant",
        default=env("SIMULATOR_VARIANT") or None,
        help="engine variant: waha WEBJS|NOWEB|GOWS, evolution 2.3|2.2 (default: the first)",
    )
    parser.add_argument(
        "--webhook-base",
        default="http://127.0.0.1:8000",
        help="Base URL of the CRM; webhooks go to the dialect's receiver under it ('' = none).",
    )
    parser.add_argument(
        "--webhook-url",
        default=env("SIMULATOR_WEBHOOK_URL") or None,
        help="Full webhook URL instead (e.g. a gateway row's /api/webhooks/waha/<id>/).",
    )
    parser.add_argument("--connect-after", type=float, default=3.0)
    parser.add_argument("--late-error-delay", type=float, default=1.0)
    parser.add_argument("--idempotent", action="store_true")
    parser.add_argument(
        "--no-auto-acks",
        dest="auto_acks",
        action="store_false",
        help="Send no receipts by themselves after a send (only on /_control/messages/{id}/ack).",
    )
    parser.add_argument(
        "--auto-ack-delay", type=float, default=1.0, help="Scale of the auto-acks' delays (s)."
    )
    parser.add_argument("--quiet", action="store_true")
    options = parser.parse_args(argv)
    try:
        dialect = make_dialect(options.dialect, options.variant)
        sim = GatewaySimulator(
            host=options.host,
            port=options.port,
            api_key=env("GATEWAY_API_KEY") or "dev-gateway-key",
            webhook_base=options.webhook_base or None,
            webhook_url=options.webhook_url,
            webhook_api_key=env("WEBHOOK_API_KEY") or "dev-webhook-key",
            webhook_hmac_secret=env("WEBHOOK_HMAC_SECRET") or None,
            whapi_token=env("WHAPI_TOKEN") or None,
            connect_after=options.connect_after,
            late_error_delay=options.late_error_delay,
            idempotent=options.idempotent,
            auto_acks=options.auto_acks,
            auto_ack_delay=options.auto_ack_delay,
            quiet=options.quiet,
            dialect=dialect,
        )
    except (OSError, ValueError) as exc:
        parser.error(str(exc))
    described = dialect.name + (f" ({dialect.variant})" if dialect.variant else "")
    target = sim.webhook_url or (
        sim.webhook_base + dialect.webhook_path if sim.webhook_base else "off"
    )
    print(f"Gateway simulator ({described}) listening on {sim.url}; webhooks to {target}")
    sys.stdout.flush()

    def _terminate(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _terminate)
    try:
        sim.serve_forever()
    except KeyboardInterrupt:
        sim.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
