"""Remote AI backends and the factory that builds them from settings."""

from __future__ import annotations

from core.backends.aurora import AuroraBackend
from core.backends.base import Backend
from core.backends.cody import CodyBackend
from core.config import AuroraSettings, BackendSettings, CodySettings

__all__ = ["AuroraBackend", "Backend", "CodyBackend", "build_backends"]


def build_backends(settings: dict[str, BackendSettings]) -> dict[str, Backend]:
    """One backend per configured name; each owns its HTTP client until ``aclose()``."""
    backends: dict[str, Backend] = {}
    for name, config in settings.items():
        if isinstance(config, CodySettings):
            backends[name] = CodyBackend(name, config)
        elif isinstance(config, AuroraSettings):
            backends[name] = AuroraBackend(name, config)
        else:  # pragma: no cover - the config's discriminated union allows nothing else
            raise ValueError(f"backends.{name}: unknown kind")
    return backends
