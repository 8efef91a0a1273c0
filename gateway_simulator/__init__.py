"""A stand-in for the WhatsApp gateway (the "VPS") and for WHAPI, for demos, tests and benchmarks.

It speaks the gateway protocol of INTERFACE.md §4 over real HTTP, posts the webhooks of §5 back
to the CRM and serves WHAPI's group-member endpoint under `/whapi`. Everything is deterministic
(session phone numbers, group lists, group members: the top-level `demo_data` module) so demo
data survives restarts, and every awkward behaviour of the real services can be switched on
through `/_control/...` endpoints or the matching methods: disconnects, late 420 errors,
failures, timeouts, resets, rate limits.

It speaks one gateway API at a time (its dialect): our protocol (default), WAHA or Evolution
API, each a translation over the same state, with that gateway's webhooks.

- `state.py`   what it remembers (sessions, groups, sends) and the rules; it emits neutral events
- `observe.py` failure rules, the request log, WHAPI's switches
- `members.py` who is in which group: participants lists, WHAPI's members, membership changes
- `base.py`    Request/Response/Webhook and the `Dialect` base; `dialect_vps.py`,
               `dialect_waha.py` (+ `waha_shapes.py`), `dialect_evolution.py`; `dialects.py`
- `routes.py`  requests to answers: WHAPI and the /_control endpoints, the rest to the dialect
- `server.py`  the threaded HTTP server, the webhook sender, `GatewaySimulator` start/stop

Standard library only, no Django, and nothing from the apps: the project reaches it only through
`python manage.py run_gateway_simulator` (or `python -m gateway_simulator`) and the tests. See
docs/gateway-simulator.md.
"""

from __future__ import annotations

from demo_data import (
    WHAPI_MEMBERS_PER_GROUP,
    demo_phone_number,
    generate_groups,
    generate_whapi_group,
)
from gateway_simulator.server import GatewaySimulator

__all__ = [
    "WHAPI_MEMBERS_PER_GROUP",
    "GatewaySimulator",
    "demo_phone_number",
    "generate_groups",
    "generate_whapi_group",
]
