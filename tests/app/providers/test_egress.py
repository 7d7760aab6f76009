"""The egress guard: every spelling of a private, loopback, link-local or metadata address is refused, the
allow-list admits intranet targets, redirects are re-checked, the resolved address is pinned, sizes and times
are capped. The target is a real local server, reachable only through the allow-list."""

from __future__ import annotations

import pytest

from app.errors import ProviderRequestError, WorkflowError
from app.providers.egress import EgressClient, EgressLimits, EgressPolicy, EgressRefused, refusal


@pytest.fixture
def guarded() -> EgressClient:
    return EgressClient(EgressPolicy.parse(""))


@pytest.fixture
def allowed() -> EgressClient:
    return EgressClient(EgressPolicy.parse("127.0.0.1/32"), EgressLimits(max_text_bytes=10_000,
                                                                       max_file_bytes=20_000))


SPELLINGS = ["127.0.0.1", "2130706433", "0x7f000001", "0177.0.0.1", "0x7f.0.0.1", "127.1", "[::ffff:127.0.0.1]",
             "[::ffff:7f00:1]", "[::1]", "localhost", "LocalHost", "[64:ff9b::7f00:1]", "[2002:7f00:1::]"]


@pytest.mark.parametrize("host", SPELLINGS)
def test_every_spelling_of_loopback_is_refused(guarded, sink, host):
    with pytest.raises(EgressRefused, match="refused"):
        guarded.request("GET", f"http://{host}:{sink.port}/")
    assert not any(r.path == f"/{host}" for r in sink.requests)


@pytest.mark.parametrize("target", ["169.254.169.254", "[fd00:ec2::254]", "10.1.2.3", "172.16.0.1", "192.168.1.1",
                                    "100.64.0.1", "[fc00::1]", "[fe80::1]", "224.0.0.1", "[ff02::1]", "0.0.0.0",
                                    "[::]", "240.0.0.1", "0"])
def test_private_metadata_and_special_ranges_are_refused(guarded, target):
    with pytest.raises(EgressRefused):
        guarded.request("GET", f"http://{target}/latest/meta-data/")


def test_refusal_reasons_name_the_range():
    import ipaddress

    assert "link-local" in (refusal(ipaddress.ip_address("169.254.169.254")) or "")
    assert refusal(ipaddress.ip_address("93.184.216.34")) is None
    assert refusal(ipaddress.ip_address("2606:4700::1111")) is None


def test_non_http_schemes_are_refused(guarded):
    for url in ("file:///etc/passwd", "gopher://127.0.0.1/", "ftp://example.com/"):
        with pytest.raises(WorkflowError, match="only http and https"):
            guarded.request("GET", url)


def test_allow_list_admits_an_intranet_target(allowed, sink):
    response = allowed.request("POST", f"{sink.url}/echo", content=b"hi", headers=[("X-A", "1")])
    assert response.status_code == 200
    assert sink.requests[-1].body == b"hi" and sink.requests[-1].headers["x-a"] == "1"


def test_allow_list_by_host_name(sink):
    client = EgressClient(EgressPolicy.parse("localhost"))
    assert client.request("GET", f"http://localhost:{sink.port}/").status_code == 200
    with pytest.raises(EgressRefused):
        client.request("GET", f"http://127.0.0.1:{sink.port}/")


def test_redirects_are_rechecked(allowed, sink):
    with pytest.raises(EgressRefused, match="169.254.169.254"):
        allowed.request("GET", f"{sink.url}/redirect?to=http://169.254.169.254/latest/meta-data/")
    ok = allowed.request("GET", f"{sink.url}/redirect?to={sink.url}/after")
    assert ok.status_code == 200 and ok.url.endswith("/after")


def test_redirect_from_public_to_private_is_refused_without_allow_list(sink):
    # Admit the sink only by host name, then redirect to its IP literal: the second hop must be vetted again.
    client = EgressClient(EgressPolicy.parse("localhost"))
    with pytest.raises(EgressRefused):
        client.request("GET", f"http://localhost:{sink.port}/redirect?to=http://127.0.0.1:{sink.port}/x")


def test_resolved_address_is_pinned_and_every_answer_vetted(sink):
    calls: list[str] = []

    def rebinding(host: str, port: int) -> list[str]:
        calls.append(host)
        return ["127.0.0.1"] if len(calls) == 1 else ["169.254.169.254"]

    client = EgressClient(EgressPolicy.parse("127.0.0.1/32"))
    client.backend.resolver = rebinding
    response = client.request("GET", f"http://rebind.example:{sink.port}/pinned")
    assert response.status_code == 200
    assert calls == ["rebind.example"]  # one lookup; the connection used its answer
    assert sink.requests[-1].headers["host"] == f"rebind.example:{sink.port}"  # Host kept

    client.backend.resolver = lambda host, port: ["93.184.216.34", "10.0.0.5"]
    with pytest.raises(EgressRefused, match="10.0.0.5"):
        client.request("GET", "http://mixed.example/")


def test_response_size_is_capped(allowed, sink):
    assert len(allowed.request("GET", f"{sink.url}/big?n=9000").content) == 9000
    with pytest.raises(EgressRefused, match="larger than 10000 bytes"):
        allowed.request("GET", f"{sink.url}/big?n=10001")
    assert allowed.request("GET", f"{sink.url}/file").is_file


def test_timeouts_are_retryable(sink):
    client = EgressClient(EgressPolicy.parse("127.0.0.1"), EgressLimits(max_read_seconds=0.3))
    with pytest.raises(ProviderRequestError, match="timed out") as info:
        client.request("GET", f"{sink.url}/slow", read=60)
    assert info.value.retryable


def test_connection_refused_is_retryable():
    client = EgressClient(EgressPolicy.parse("127.0.0.1"))
    with pytest.raises(ProviderRequestError):
        client.request("GET", "http://127.0.0.1:1/")


def test_environment_proxies_are_ignored(allowed, sink, monkeypatch):
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9/")
    monkeypatch.setenv("ALL_PROXY", "http://127.0.0.1:9/")
    fresh = EgressClient(EgressPolicy.parse("127.0.0.1/32"))
    assert fresh.request("GET", f"{sink.url}/").status_code == 200
    assert fresh.request("GET", f"{sink.url}/", verify=False).status_code == 200  # the unverified client too


@pytest.mark.parametrize(("host", "admitted"), [
    ("localhost", True), ("LOCALHOST.", True), ("LocalHost", True),
    ("evil-localhost", False), ("localhost.evil.example", False), ("notlocalhost", False), ("localhos", False),
    ("sub.localhost", False),
])
def test_allowed_host_names_match_exactly_not_by_substring(host, admitted):
    import ipaddress

    policy = EgressPolicy.parse("localhost, 10.0.0.0/8")
    assert policy.admits(host, ipaddress.ip_address("127.0.0.1")) is admitted


@pytest.mark.parametrize(("address", "admitted"), [
    ("10.0.0.0", True), ("10.255.255.255", True), ("9.255.255.255", True),  # public: always admitted
    ("11.0.0.1", True), ("172.16.0.1", False), ("192.168.1.1", False), ("127.0.0.1", False),
    ("169.254.169.254", False),
])
def test_allowed_networks_admit_their_range_and_nothing_private_beyond(address, admitted):
    import ipaddress

    policy = EgressPolicy.parse("10.0.0.0/8")
    assert policy.admits("some-host", ipaddress.ip_address(address)) is admitted


def test_an_empty_policy_admits_only_public_addresses():
    import ipaddress

    policy = EgressPolicy.parse(" , ")
    assert policy.networks == () and policy.hosts == frozenset()
    assert policy.admits("example.org", ipaddress.ip_address("93.184.216.34"))
    assert not policy.admits("example.org", ipaddress.ip_address("10.1.2.3"))
