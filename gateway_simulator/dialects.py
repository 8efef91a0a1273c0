"""The dialects the simulator speaks, by name (`--dialect`, SIMULATOR_DIALECT)."""

from __future__ import annotations

from gateway_simulator.base import Dialect
from gateway_simulator.dialect_evolution import EvolutionDialect
from gateway_simulator.dialect_vps import VpsDialect
from gateway_simulator.dialect_waha import WahaDialect

DIALECTS: dict[str, type[Dialect]] = {
    "vps": VpsDialect,
    "waha": WahaDialect,
    "evolution": EvolutionDialect,
}


def make_dialect(name: str | None = None, variant: str | None = None) -> Dialect:
    """The dialect called `name` (default vps) in its `variant` (default: its first);
    ValueError names the known ones."""
    key = (name or "vps").strip().lower()
    if key not in DIALECTS:
        raise ValueError(f"unknown dialect {name!r}; known: {', '.join(DIALECTS)}")
    return DIALECTS[key](variant or None)
