"""Client IP behind proxies and the device fingerprint."""

from __future__ import annotations

import ipaddress

import pytest

from auth.request_context import client_ip, device_fingerprint, trusted_proxies_from_env

PROXIES = (ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("fd00::/8"))


def scope(peer: str | None, *xff: str) -> dict:
    headers = [(b"host", b"api")] + [(b"x-forwarded-for", v.encode("latin-1")) for v in xff]
    return {"type": "http", "client": None if peer is None else (peer, 51000), "headers": headers}


def test_given_untrusted_peer_when_xff_sent_then_ignored():
    assert client_ip(scope("198.51.100.7", "1.2.3.4"), PROXIES) == "198.51.100.7"


def test_given_no_trusted_proxies_configured_when_xff_sent_then_peer_used():
    assert client_ip(scope("10.0.0.2", "1.2.3.4"), ()) == "10.0.0.2"


def test_given_trusted_proxy_when_xff_sent_then_client_from_header():
    assert client_ip(scope("10.0.0.2", "198.51.100.7"), PROXIES) == "198.51.100.7"


def test_given_spoofed_left_entries_when_behind_trusted_proxy_then_rightmost_untrusted_hop():
    # The client sent "XFF: 6.6.6.6"; our proxy appended the address it really saw.
    assert client_ip(scope("10.0.0.2", "6.6.6.6, 198.51.100.7"), PROXIES) == "198.51.100.7"


def test_given_proxy_chain_when_resolved_then_trusted_hops_skipped():
    assert client_ip(scope("10.0.0.2", "6.6.6.6, 198.51.100.7, 10.1.1.1"), PROXIES) == (
        "198.51.100.7"
    )


def test_given_several_xff_headers_when_resolved_then_read_in_order():
    assert client_ip(scope("10.0.0.2", "6.6.6.6", "198.51.100.7, 10.9.9.9"), PROXIES) == (
        "198.51.100.7"
    )


def test_given_only_trusted_hops_when_resolved_then_leftmost_trusted():
    assert client_ip(scope("10.0.0.2", "10.3.3.3, 10.4.4.4"), PROXIES) == "10.3.3.3"


def test_given_trusted_proxy_without_xff_when_resolved_then_peer():
    assert client_ip(scope("10.0.0.2"), PROXIES) == "10.0.0.2"


def test_given_garbage_hop_from_trusted_proxy_when_resolved_then_unknown():
    assert client_ip(scope("10.0.0.2", "6.6.6.6, nonsense"), PROXIES) == "unknown"


@pytest.mark.parametrize(
    ("hop", "expected"),
    [
        ("198.51.100.7:4711", "198.51.100.7"),
        ("[2001:db8::7]:443", "2001:db8::7"),
        ("2001:DB8:0::7", "2001:db8::7"),
    ],
)
def test_given_hop_with_port_or_odd_form_when_resolved_then_canonical_ip(hop, expected):
    assert client_ip(scope("fd00::1", hop), PROXIES) == expected


def test_given_ipv4_mapped_peer_when_trusted_range_is_ipv4_then_trusted():
    assert client_ip(scope("::ffff:10.0.0.2", "198.51.100.7"), PROXIES) == "198.51.100.7"


def test_given_no_peer_or_non_ip_peer_when_resolved_then_unknown_or_raw_host():
    assert client_ip(scope(None, "1.2.3.4"), PROXIES) == "unknown"
    assert client_ip(scope("testclient", "1.2.3.4"), PROXIES) == "testclient"


def test_given_env_when_parsed_then_networks_and_clear_error():
    assert trusted_proxies_from_env({}) == ()
    assert trusted_proxies_from_env({"SENIM_TRUSTED_PROXIES": " 10.0.0.0/8, ,172.16.0.1 "}) == (
        ipaddress.ip_network("10.0.0.0/8"),
        ipaddress.ip_network("172.16.0.1/32"),
    )
    with pytest.raises(ValueError, match="SENIM_TRUSTED_PROXIES.*'10.0.0/33'"):
        trusted_proxies_from_env({"SENIM_TRUSTED_PROXIES": "10.0.0.0/8,10.0.0/33"})


def test_given_same_headers_modulo_case_and_spacing_when_fingerprinted_then_equal():
    a = device_fingerprint("Mozilla/5.0  (X11)", "en-US,en;q=0.9")
    b = device_fingerprint(" mozilla/5.0 (x11) ", "EN-us,en;q=0.9")
    assert a == b and len(a) == 32 and int(a, 16) >= 0


def test_given_different_headers_or_field_split_when_fingerprinted_then_differ():
    assert device_fingerprint("ua", "kk") != device_fingerprint("ua", "ru")
    assert device_fingerprint("ab", "c") != device_fingerprint("a", "bc")
    assert device_fingerprint("ua", "kk", "tz=Asia/Almaty") != device_fingerprint("ua", "kk")
