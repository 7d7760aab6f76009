"""The egress guard's parts at their edges: refusal reasons, address spellings, policy parsing, lookups and the
addresses a connection tries (the client's requests are in test_egress_client.py)."""

from __future__ import annotations

import pytest

from app.errors import ProviderRequestError
from app.providers.egress import EgressClient, EgressPolicy, EgressRefused, refusal


@pytest.mark.parametrize(("address", "reason"), [
    ("0.0.0.0", "0.0.0.0 is not a public address (unspecified)"),
    ("::", ":: is not a public address (unspecified)"),
    ("127.0.0.1", "127.0.0.1 is not a public address (loopback)"),
    ("169.254.169.254", "169.254.169.254 is not a public address (link-local)"),
    ("224.0.0.1", "224.0.0.1 is not a public address (multicast)"),
    ("10.0.0.1", "10.0.0.1 is not a public address (private)"),
    ("4000::1", "4000::1 is not a public address (reserved)"),
    ("100.64.0.1", "100.64.0.1 is not a public address"),  # CGNAT: neither private nor global
    ("::ffff:10.0.0.1", "10.0.0.1 is not a public address (private) (embedded in ::ffff:a00:1)"),
    ("2002:a9fe:a9fe::", "169.254.169.254 is not a public address (link-local) (embedded in 2002:a9fe:a9fe::)"),
    # Teredo: the client (the second address) is what is reached, not the public Teredo server.
    ("2001:0:4136:e378:8000:63bf:3fff:fdd2",
     "192.0.2.45 is not a public address (private) (embedded in 2001:0:4136:e378:8000:63bf:3fff:fdd2)"),
    ("64:ff9b::a00:1", "10.0.0.1 is not a public address (private) (embedded in 64:ff9b::a00:1)"),
    ("93.184.216.34", None), ("::ffff:93.184.216.34", None), ("64:ff9b::5db8:d822", None),
    ("2002:5db8:d822::", None), ("2606:4700::1111", None),
])
def test_refusal_names_the_range_and_looks_inside_ipv6(address, reason):
    import ipaddress

    assert refusal(ipaddress.ip_address(address)) == reason


@pytest.mark.parametrize(("host", "address"), [
    ("127.0.0.1", "127.0.0.1"), ("[::1]", "::1"), ("fe80::1%eth0", "fe80::1"), ("[fe80::1%25eth0]", "fe80::1"),
    ("2130706433", "127.0.0.1"), ("0x7F000001", "127.0.0.1"), ("0177.0.0.1", "127.0.0.1"), ("127.1", "127.0.0.1"),
    ("10.1", "10.0.0.1"), ("example.org", None), ("1.2.3.4.5", None), ("99999999999", None),
    ("0x7f.0x1.", None), ("", None), ("X10.0.0.1X", None),
])
def test_literal_address_reads_every_spelling_a_resolver_accepts(host, address):
    import ipaddress

    from app.providers.egress import literal_address

    assert literal_address(host) == (ipaddress.ip_address(address) if address else None)


def test_a_policy_reads_networks_addresses_and_names_from_text_or_a_list():
    import ipaddress

    policy = EgressPolicy.parse(" 10.1.2.3/8 , 192.168.0.7, Intranet.Example. ,, [::1] ")
    assert policy.networks == (ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("192.168.0.7/32"))
    assert policy.hosts == frozenset({"intranet.example", "[::1]"})
    assert policy.admits("other", ipaddress.ip_address("10.200.0.1"))  # a host address with a prefix: its network
    assert policy.admits("INTRANET.example.", ipaddress.ip_address("172.16.0.1"))
    assert not policy.admits("other", ipaddress.ip_address("192.168.0.8"))
    listed = EgressPolicy.parse(["172.16.0.0/12", " ", "wiki.corp"])
    assert listed == EgressPolicy((ipaddress.ip_network("172.16.0.0/12"),), frozenset({"wiki.corp"}))


def test_the_system_resolver_answers_each_address_once():
    from app.providers.egress import _system_resolve

    answer = _system_resolve("localhost", 80)
    assert "127.0.0.1" in answer or "::1" in answer
    assert len(answer) == len(set(answer))  # one entry per address: stream sockets only
    assert _system_resolve("127.0.0.2", 443) == ["127.0.0.2"]


def backend(resolver, policy: str = "", timeout: float = 10.0):
    from app.providers.egress import GuardedBackend

    return GuardedBackend(EgressPolicy.parse(policy), timeout, resolver)


def test_vet_answers_the_vetted_addresses_once_each_in_resolver_order():
    answers = ["2606:4700::1111", "93.184.216.34", "2606:4700::1111", "fe80::1%eth0"]
    asked: list[tuple[str, int]] = []
    guard = backend(lambda host, port: asked.append((host, port)) or answers[:3], "")
    assert guard.vet("public.example", 443) == ["2606:4700::1111", "93.184.216.34"]
    assert asked == [("public.example", 443)]
    with pytest.raises(EgressRefused) as info:
        backend(lambda host, port: answers, "").vet("mixed.example", 443)
    assert info.value.message == ("request to 'mixed.example' refused: fe80::1 is not a public address (link-local) "
                                  "(add it to EGRESS_ALLOW to reach an intranet address)")
    # A literal address is not looked up at all.
    assert backend(lambda host, port: pytest.fail("looked up"), "10.0.0.0/8").vet("10.9.8.7", 80) == ["10.9.8.7"]


def test_lookup_failures_are_retryable_provider_errors():
    import socket
    import time

    def failing(host: str, port: int) -> list[str]:
        raise socket.gaierror(-2, "Name or service not known")

    with pytest.raises(ProviderRequestError) as info:
        backend(failing).vet("nowhere.example", 80)
    assert info.value.message == "cannot resolve 'nowhere.example': [Errno -2] Name or service not known"
    with pytest.raises(ProviderRequestError) as info:
        backend(lambda host, port: []).vet("empty.example", 80)
    assert info.value.message == "cannot resolve 'empty.example'"

    def slow(host: str, port: int) -> list[str]:
        time.sleep(0.5)
        return ["93.184.216.34"]

    # The backend's own lookup limit, and a shorter one from the request's connect timeout.
    for guard, timeout in ((backend(slow, timeout=0.05), None), (backend(slow, timeout=30.0), 0.05)):
        started = time.monotonic()
        with pytest.raises(ProviderRequestError) as info:
            guard.vet("slow.example", 80, timeout)
        assert info.value.message == "resolving 'slow.example' timed out" and info.value.retryable
        assert time.monotonic() - started < 0.45


def test_connections_try_each_vetted_address_in_turn(sink):
    client = EgressClient(EgressPolicy.parse("127.0.0.0/8"))
    asked: list[tuple[str, int]] = []
    # Nothing listens on 127.0.0.2: the next address is tried.
    client.backend.resolver = lambda host, port: asked.append((host, port)) or ["127.0.0.2", "127.0.0.1"]
    assert client.request("GET", f"http://two.example:{sink.port}/").status_code == 200
    assert asked == [("two.example", sink.port)]
    client.backend.resolver = lambda host, port: ["127.0.0.2", "127.0.0.3"]
    with pytest.raises(ProviderRequestError, match="HTTP request failed: ConnectError"):
        client.request("GET", f"http://none.example:{sink.port}/")


def test_unix_sockets_are_never_reached():
    with pytest.raises(EgressRefused) as info:
        backend(lambda host, port: []).connect_unix_socket("/var/run/docker.sock")
    assert info.value.message == "unix sockets are not reachable through the egress guard"


def test_at_most_four_lookups_run_at_once():
    import threading
    import time

    def slow(host: str, port: int) -> list[str]:
        time.sleep(0.5)
        return ["93.184.216.34"]

    guard = backend(slow, timeout=0.8)
    start = threading.Barrier(5)
    outcomes: list[str] = []

    def look_up(i: int) -> None:
        start.wait()
        try:
            guard.vet(f"host{i}.example", 80)
            outcomes.append("resolved")
        except ProviderRequestError:
            outcomes.append("timed out")

    threads = [threading.Thread(target=look_up, args=(i,)) for i in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # A flood of slow names cannot take more than four threads: the fifth waits its turn past its limit.
    assert sorted(outcomes) == ["resolved"] * 4 + ["timed out"]
