"""Who is calling: the client IP behind trusted proxies, and a weak device fingerprint.

``X-Forwarded-For`` is written by whoever sends the request, so it is believed only
when the direct peer is a proxy we run (``SENIM_TRUSTED_PROXIES``); otherwise anyone
could pick the IP that rate limits and lockouts key on.
"""

from __future__ import annotations

import hashlib
import ipaddress
import os
from collections.abc import Iterable, Mapping
from typing import Any

TRUSTED_PROXIES_ENV = "SENIM_TRUSTED_PROXIES"
UNKNOWN_CLIENT = "unknown"

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def trusted_proxies_from_env(environ: Mapping[str, str] | None = None) -> tuple[IPNetwork, ...]:
    """Parse ``SENIM_TRUSTED_PROXIES`` (comma-separated CIDRs or IPs); unset means none."""
    raw = (os.environ if environ is None else environ).get(TRUSTED_PROXIES_ENV, "")
    networks = []
    for item in raw.split(","):
        if not item.strip():
            continue
        try:
            networks.append(ipaddress.ip_network(item.strip(), strict=False))
        except ValueError as exc:
            raise ValueError(
                f"{TRUSTED_PROXIES_ENV}: {item.strip()!r} is not an IP address or CIDR"
            ) from exc
    return tuple(networks)


def _parse_hop(value: str) -> IPAddress | None:
    """One address; tolerates ``1.2.3.4:port`` and ``[v6]:port``."""
    value = value.strip()
    if value.startswith("[") and "]" in value:
        value = value[1 : value.index("]")]
    elif value.count(":") == 1:
        value = value.split(":", 1)[0]
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return None
    # Dual-stack listeners report IPv4 peers as ::ffff:a.b.c.d; compare them as IPv4.
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return address.ipv4_mapped
    return address


def _is_trusted(address: IPAddress, trusted: Iterable[IPNetwork]) -> bool:
    return any(address.version == net.version and address in net for net in trusted)


def _forwarded_for(scope: Mapping[str, Any]) -> list[str]:
    hops: list[str] = []
    for name, value in scope.get("headers") or ():
        if name.lower() == b"x-forwarded-for":
            hops.extend(value.decode("latin-1").split(","))
    return [hop for hop in hops if hop.strip()]


def client_ip(scope: Mapping[str, Any], trusted_proxies: Iterable[IPNetwork]) -> str:
    """The client address: the direct peer, or the right-most untrusted XFF hop.

    Walks ``X-Forwarded-For`` right to left only while each hop is a trusted proxy, so a
    client cannot spoof its address by prepending entries. Returns the raw peer host for
    non-IP peers (unix sockets, test clients) and ``"unknown"`` when there is no peer or a
    trusted proxy forwarded an unparseable hop.
    """
    trusted = tuple(trusted_proxies)
    client = scope.get("client")
    if not client:
        return UNKNOWN_CLIENT
    peer_host = str(client[0])
    peer = _parse_hop(peer_host)
    if peer is None:
        return peer_host
    if not _is_trusted(peer, trusted):
        return str(peer)
    nearest = peer
    for hop in reversed(_forwarded_for(scope)):
        address = _parse_hop(hop)
        if address is None:
            return UNKNOWN_CLIENT
        if not _is_trusted(address, trusted):
            return str(address)
        nearest = address
    return str(nearest)


def _normalise(header: str) -> str:
    return " ".join(header.split()).lower()


def device_fingerprint(user_agent: str, accept_language: str, extra: str = "") -> str:
    """32 hex chars from normalised request headers.

    A weak signal for "seen this browser before", never identification: the headers are
    client-chosen, shared by many users and trivially copied, so a match lowers risk only
    alongside the other signals and the password.
    """
    material = "\x1f".join(_normalise(part) for part in (user_agent, accept_language, extra))
    return hashlib.sha256(material.encode("utf-8")).hexdigest()[:32]
