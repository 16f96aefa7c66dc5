"""berthd's loopback HTTP address: Prometheus metrics and a live dashboard (ADR/0014)."""

from .routes import Dashboard
from .server import (
    ListenAddress,
    ListenError,
    parse_listen_address,
    serve_dashboard,
)

__all__ = ["Dashboard", "ListenAddress", "ListenError", "parse_listen_address", "serve_dashboard"]
