"""The one outbound fetch (videos/fetch.py) refuses what would let a URL reach our own network."""

from __future__ import annotations

import io
import socket
from typing import Any

import pytest

from tests.videos.standins import StandIn
from tests.videos.standins import standin_fixture as standin_fixture  # the `standin` fixture
from videos.fetch import FetchError, url_fetch, url_host_check


def resolving_to(monkeypatch: Any, address: str) -> None:
    def fake(host: str, port: int, *args: Any, **kwargs: Any) -> list[Any]:
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]

    monkeypatch.setattr(socket, "getaddrinfo", fake)


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.0.0.5",
        "172.16.1.1",
        "192.168.1.1",
        "169.254.169.254",
        "0.0.0.0",  # noqa: S104 (an address refused, not bound)
        "224.0.0.1",
        "100.64.0.1",
    ],
)
def test_private_loopback_link_local_and_reserved_addresses_are_refused(monkeypatch, settings, address):
    settings.VIDEO_FETCH_ALLOW_PRIVATE = False
    resolving_to(monkeypatch, address)

    with pytest.raises(FetchError, match="private or reserved"):
        url_host_check("https://cdn.example.com/a.mp4", allowed_hosts={"cdn.example.com"})


def test_an_ipv4_mapped_ipv6_loopback_is_refused(monkeypatch, settings):
    settings.VIDEO_FETCH_ALLOW_PRIVATE = False

    def fake(host: str, port: int, *args: Any, **kwargs: Any) -> list[Any]:
        return [(socket.AF_INET6, socket.SOCK_STREAM, 6, "", ("::ffff:127.0.0.1", port, 0, 0))]

    monkeypatch.setattr(socket, "getaddrinfo", fake)
    with pytest.raises(FetchError, match="private or reserved"):
        url_host_check("https://cdn.example.com/a.mp4", allowed_hosts={"cdn.example.com"})


def test_a_public_address_passes(monkeypatch, settings):
    settings.VIDEO_FETCH_ALLOW_PRIVATE = False
    resolving_to(monkeypatch, "93.184.215.14")

    target = url_host_check("https://cdn.example.com/a.mp4", allowed_hosts={"cdn.example.com"})

    assert (target.host, target.port, target.address) == ("cdn.example.com", 443, "93.184.215.14")


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://cdn.example.com/a.mp4", "Only https"),
        ("https://user:pw@cdn.example.com/a.mp4", "user name or password"),
        ("https://other.example.com/a.mp4", "not a host we fetch from"),
        ("file:///etc/passwd", "Only https"),
    ],
)
def test_only_https_credential_free_allow_listed_hosts_are_fetched(url, message):
    with pytest.raises(FetchError, match=message):
        url_host_check(url, allowed_hosts={"cdn.example.com"})


def test_the_real_stand_in_is_refused_without_the_test_setting(standin: StandIn, settings):
    settings.VIDEO_FETCH_ALLOW_PRIVATE = False
    standin.files["/a.jpg"] = b"x"

    with pytest.raises(FetchError, match="private or reserved"):
        url_fetch(standin.url("/a.jpg"), allowed_hosts={"127.0.0.1"}, max_bytes=10)
    assert standin.requests == []


def test_redirects_are_followed_and_each_hop_is_checked(standin: StandIn):
    standin.files["/final.jpg"] = b"image"
    standin.redirects["/r1"] = "/final.jpg"
    standin.redirects["/elsewhere"] = "https://localhost:1/secret"

    assert url_fetch(standin.url("/r1"), allowed_hosts={"127.0.0.1"}, max_bytes=100).body == b"image"
    with pytest.raises(FetchError, match="localhost is not a host we fetch from"):
        url_fetch(standin.url("/elsewhere"), allowed_hosts={"127.0.0.1"}, max_bytes=100)


def test_at_most_three_redirects(standin: StandIn):
    for i in range(5):
        standin.redirects[f"/r{i}"] = f"/r{i + 1}"

    with pytest.raises(FetchError, match="More than 3 redirects"):
        url_fetch(standin.url("/r0"), allowed_hosts={"127.0.0.1"}, max_bytes=100)
    assert standin.count("/r") == 4


def test_a_body_over_the_cap_is_refused(standin: StandIn):
    standin.files["/big.jpg"] = b"x" * 70_000

    with pytest.raises(FetchError, match="larger than 64 KB"):
        url_fetch(standin.url("/big.jpg"), allowed_hosts={"127.0.0.1"}, max_bytes=64 * 1024)


def test_a_certificate_we_do_not_trust_is_refused(standin: StandIn, settings):
    settings.VIDEO_FETCH_CA_FILE = ""
    standin.files["/a.jpg"] = b"x"

    with pytest.raises(FetchError, match="valid certificate"):
        url_fetch(standin.url("/a.jpg"), allowed_hosts={"127.0.0.1"}, max_bytes=10)


def resolving_to_all(monkeypatch: Any, addresses: list[str]) -> None:
    def fake(host: str, port: int, *args: Any, **kwargs: Any) -> list[Any]:
        return [
            (socket.AF_INET6, socket.SOCK_STREAM, 6, "", (a, port, 0, 0))
            if ":" in a
            else (socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port))
            for a in addresses
        ]

    monkeypatch.setattr(socket, "getaddrinfo", fake)


@pytest.mark.parametrize(
    "address",
    [
        "::ffff:10.0.0.5",  # IPv4-mapped, private inside
        "::7f00:1",  # IPv4-compatible (deprecated): ::127.0.0.1
        "::5db8:d70e",  # IPv4-compatible, even with a public address inside: no host routes these
        "64:ff9b::7f00:1",  # NAT64 well-known prefix in front of 127.0.0.1
        "64:ff9b::a9fe:a9fe",  # NAT64 in front of 169.254.169.254 (cloud metadata)
        "64:ff9b:1::5db8:d70e",  # local-use NAT64: where the IPv4 sits depends on the local prefix length
        "2002:7f00:1::1",  # 6to4 of 127.0.0.1
        "2002:a00:5::1",  # 6to4 of 10.0.0.5
        "2001:0:5db8:d70e::1",  # Teredo: tunnels to an address we cannot check
        "2001::1",
        "::1",
        "::",
        "fe80::1",
        "fc00::1",
        "fd12:3456::1",
        "ff02::1",  # multicast
        "2001:db8::1",  # documentation
        "100::1",  # discard-only
    ],
)
def test_every_ipv6_form_that_is_not_globally_routable_is_refused(monkeypatch, settings, address):
    settings.VIDEO_FETCH_ALLOW_PRIVATE = False
    resolving_to_all(monkeypatch, [address])

    with pytest.raises(FetchError, match="private or reserved"):
        url_host_check("https://cdn.example.com/a.mp4", allowed_hosts={"cdn.example.com"})


@pytest.mark.parametrize(
    "address",
    [
        "2606:4700::1111",
        "2a00:1450:4001:82b::200e",
        "::ffff:93.184.215.14",  # how a dual-stack resolver reports a public IPv4 address
        "64:ff9b::5db8:d70e",  # DNS64 on an IPv6-only network, in front of a public IPv4 address
        "2002:5db8:d70e::1",  # 6to4 of a public IPv4 address
    ],
)
def test_public_ipv6_addresses_pass_and_are_the_ones_connected_to(monkeypatch, settings, address):
    settings.VIDEO_FETCH_ALLOW_PRIVATE = False
    resolving_to_all(monkeypatch, [address])

    target = url_host_check("https://cdn.example.com/a.mp4", allowed_hosts={"cdn.example.com"})

    assert target.address == address


def test_a_host_with_one_private_address_among_public_ones_is_refused(monkeypatch, settings):
    settings.VIDEO_FETCH_ALLOW_PRIVATE = False
    resolving_to_all(monkeypatch, ["93.184.215.14", "2606:4700::1111", "64:ff9b::a00:5"])

    with pytest.raises(FetchError, match="private or reserved"):
        url_host_check("https://cdn.example.com/a.mp4", allowed_hosts={"cdn.example.com"})


def test_a_download_into_a_file_can_be_cut_at_the_cap(standin: StandIn):
    content = bytes(range(256)) * 1000
    standin.files["/big.mp4"] = content
    out = io.BytesIO()

    response = url_fetch(
        standin.url("/big.mp4"), allowed_hosts={"127.0.0.1"}, max_bytes=10_000, destination=out, truncate=True
    )

    assert (response.status, response.size, response.truncated, response.body) == (200, 10_000, True, b"")
    assert out.getvalue() == content[:10_000]


def test_an_error_page_is_never_written_where_the_file_is_expected(standin: StandIn):
    standin.files["/gone.mp4"] = 404
    out = io.BytesIO()

    response = url_fetch(standin.url("/gone.mp4"), allowed_hosts={"127.0.0.1"}, max_bytes=100, destination=out)

    assert response.status == 404
    assert out.getvalue() == b""


def test_a_redirect_on_get_only_to_another_host_is_refused_even_when_head_answered(standin: StandIn):
    standin.files["/internal.mp4"] = b"secret"
    standin.get_redirects["/a.mp4"] = standin.url("/internal.mp4").replace("127.0.0.1", "localhost")

    assert url_fetch(standin.url("/a.mp4"), allowed_hosts={"127.0.0.1"}, max_bytes=0, method="HEAD").status == 200
    with pytest.raises(FetchError, match="localhost is not a host we fetch from"):
        url_fetch(standin.url("/a.mp4"), allowed_hosts={"127.0.0.1"}, max_bytes=100)
    assert standin.count("/internal") == 0


def test_the_connection_goes_to_the_address_checked_not_to_a_second_dns_answer(standin: StandIn, monkeypatch):
    # A rebinding name: public (here: the stand-in) when checked, elsewhere when asked again.
    real = socket.getaddrinfo
    asked: list[str] = []

    def rebinding(host: str, port: int, *args: Any, **kwargs: Any) -> list[Any]:
        if host != "localhost":
            return real(host, port, *args, **kwargs)
        asked.append(host)
        address = "127.0.0.1" if len(asked) == 1 else "192.0.2.1"
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    standin.files["/a.jpg"] = b"image"
    url = standin.url("/a.jpg").replace("127.0.0.1", "localhost")

    assert url_fetch(url, allowed_hosts={"localhost"}, max_bytes=100).body == b"image"
    assert asked == ["localhost"]
