"""Who may read metrics: the web /metrics view and the worker's metrics port use the same rule.

Each setting that is set is a condition the request must meet (both set: both):
- FLOWTOWER_METRICS_TOKEN: "Authorization: Bearer <token>" (missing or wrong: 401);
- FLOWTOWER_METRICS_ALLOWED_NETWORKS: the connection's own address (REMOTE_ADDR, never a
  forwarded header a client could write) in one of the networks (else 403).
Neither set: metrics stay closed (403) — secure by default."""

import hmac
import ipaddress
from dataclasses import dataclass

from django.conf import settings


@dataclass(frozen=True)
class Denied:
    status: int
    detail: str


def denied(remote_addr, authorization):
    """None when the request may read metrics, else why not (a Denied)."""
    token, networks = settings.FLOWTOWER_METRICS_TOKEN, settings.FLOWTOWER_METRICS_ALLOWED_NETWORKS
    if not token and not networks:
        return Denied(403, "Metrics are closed: set FLOWTOWER_METRICS_TOKEN and/or FLOWTOWER_METRICS_ALLOWED_NETWORKS.")
    if networks and not _in_networks(remote_addr, networks):
        return Denied(403, "Metrics are not served to this address (FLOWTOWER_METRICS_ALLOWED_NETWORKS).")
    if token:
        scheme, _, given = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not given.strip():
            return Denied(401, "Metrics need 'Authorization: Bearer <FLOWTOWER_METRICS_TOKEN>'.")
        if not hmac.compare_digest(given.strip().encode(), token.encode()):
            return Denied(401, "The metrics token is not valid.")
    return None


def _in_networks(remote_addr, networks):
    try:
        address = ipaddress.ip_address((remote_addr or "").split("%")[0])
    except ValueError:
        return False
    if address.version == 6 and address.ipv4_mapped:  # ::ffff:10.1.2.3 is 10.1.2.3
        address = address.ipv4_mapped
    return any(address in ipaddress.ip_network(n, strict=False) for n in networks)
