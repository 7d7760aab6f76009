"""The egress guard: the only HTTP client for user-directed URLs (the `http-request` node, remote files, tools).

Every connection, including each redirect hop, goes through `GuardedBackend.connect_tcp`, which resolves the host
once, refuses it when any of its addresses is not public (loopback, RFC 1918, CGNAT, link-local and cloud
metadata, ULA, multicast, unspecified, reserved, and the IPv4 hidden in IPv4-mapped, 6to4, Teredo or NAT64 IPv6)
unless the allow-list admits it, then connects to that vetted address itself: no second lookup, so no DNS
rebinding window, while TLS still verifies and sends SNI for the original host name. Responses are capped in bytes
(text and file caps, measured after decompression) and in total time. Proxy variables from the environment are
ignored. Imports nothing from `app.engine`.
"""

from __future__ import annotations

import ipaddress
import re
import socket
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from typing import Any

import httpcore2
import httpx2

from app.errors import ProviderRequestError, WorkflowError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
NAT64 = ipaddress.ip_network("64:ff9b::/96")
# Legacy IPv4 spellings inet_aton accepts: 2130706433, 0x7f000001, 0177.0.0.1, 127.1.
LEGACY_IPV4 = re.compile(r"^(0x[0-9a-f]+|[0-9]+)(\.(0x[0-9a-f]+|[0-9]+)){0,3}$", re.IGNORECASE)
TEXT_TYPES = ("text/", "application/json", "application/xml", "application/javascript", "application/x-javascript",
              "application/x-www-form-urlencoded", "application/yaml", "application/x-yaml", "application/ld+json",
              "application/problem+json", "application/xhtml+xml", "application/rss+xml", "application/atom+xml")


class EgressRefused(WorkflowError):
    """A user-directed request aimed at an address the guard does not allow."""


@dataclass(frozen=True)
class EgressPolicy:
    """What may be reached besides the public internet: networks (CIDR) and exact host names."""

    networks: tuple[IPNetwork, ...] = ()
    hosts: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def parse(cls, spec: str | Iterable[str]) -> EgressPolicy:
        """`spec`: comma-separated CIDRs, addresses or host names (`10.0.0.0/8, 127.0.0.1, intranet.local`)."""
        items = [s.strip() for s in (spec.split(",") if isinstance(spec, str) else spec) if s.strip()]
        networks: list[IPNetwork] = []
        hosts: set[str] = set()
        for item in items:
            try:
                networks.append(ipaddress.ip_network(item, strict=False))
            except ValueError:
                hosts.add(item.lower().rstrip("."))
        return cls(tuple(networks), frozenset(hosts))

    def admits(self, host: str, address: IPAddress) -> bool:
        if host.lower().rstrip(".") in self.hosts:
            return True
        return any(address in net for net in self.networks) or refusal(address) is None


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address.ipv4_mapped:
        return address.ipv4_mapped
    if address.sixtofour:
        return address.sixtofour
    if address.teredo:
        return address.teredo[1]
    if address in NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def refusal(address: IPAddress) -> str | None:
    """Why `address` is not a public unicast address, or None when it is."""
    if isinstance(address, ipaddress.IPv6Address):
        inner = _embedded_ipv4(address)
        if inner is not None:
            reason = refusal(inner)
            return f"{reason} (embedded in {address})" if reason else None
    checks = (("unspecified", address.is_unspecified), ("loopback", address.is_loopback),
              ("link-local", address.is_link_local), ("multicast", address.is_multicast),
              ("private", address.is_private), ("reserved", address.is_reserved))
    for name, hit in checks:
        if hit:
            return f"{address} is not a public address ({name})"
    return None if address.is_global else f"{address} is not a public address"


def literal_address(host: str) -> IPAddress | None:
    """The address a host names literally, in any spelling a resolver would accept; None for a name."""
    bare = host.strip("[]")
    try:
        return ipaddress.ip_address(bare.split("%")[0])
    except ValueError:
        pass
    if LEGACY_IPV4.match(bare):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(bare))
        except OSError:
            return None
    return None


def _system_resolve(host: str, port: int) -> list[str]:
    return [str(info[4][0]) for info in socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM)]


class GuardedBackend(httpcore2.NetworkBackend):
    """Resolves, vets and connects to the vetted address; every connection of the client comes through here."""

    def __init__(self, policy: EgressPolicy, resolve_timeout: float = 10.0,
                 resolver: Callable[[str, int], list[str]] | None = None) -> None:
        self.policy = policy
        self._resolve_timeout = resolve_timeout
        self.resolver = resolver or _system_resolve
        self._inner = httpcore2.SyncBackend()
        self._resolver = ThreadPoolExecutor(4, thread_name_prefix="egress-dns")

    def vet(self, host: str, port: int, timeout: float | None = None) -> list[str]:
        """The addresses of `host` in resolver order; raises EgressRefused if any of them is not allowed."""
        literal = literal_address(host)
        addresses = [literal] if literal else self._resolve(host, port, timeout or self._resolve_timeout)
        for address in addresses:
            if not self.policy.admits(host, address):
                raise EgressRefused(f"request to {host!r} refused: {refusal(address) or address} "
                                    "(add it to EGRESS_ALLOW to reach an intranet address)")
        return [str(a) for a in addresses]

    def _resolve(self, host: str, port: int, timeout: float) -> list[IPAddress]:
        future = self._resolver.submit(self.resolver, host, port)
        try:
            infos = future.result(timeout)
        except FutureTimeout as exc:
            raise ProviderRequestError(f"resolving {host!r} timed out") from exc
        except OSError as exc:
            raise ProviderRequestError(f"cannot resolve {host!r}: {exc}") from exc
        found = [ipaddress.ip_address(info.split("%")[0]) for info in infos]
        if not found:
            raise ProviderRequestError(f"cannot resolve {host!r}")
        return list(dict.fromkeys(found))

    def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
                    socket_options: Iterable[Any] | None = None) -> httpcore2.NetworkStream:
        addresses = self.vet(host, port, timeout)
        last: Exception | None = None
        for address in addresses:
            try:
                return self._inner.connect_tcp(address, port, timeout, local_address, socket_options)
            except (httpcore2.ConnectError, httpcore2.ConnectTimeout) as exc:
                last = exc
        assert last is not None
        raise last

    def connect_unix_socket(self, path: str, timeout: float | None = None,
                            socket_options: Iterable[Any] | None = None) -> httpcore2.NetworkStream:
        raise EgressRefused("unix sockets are not reachable through the egress guard")


class GuardedTransport(httpx2.HTTPTransport):
    """httpx's transport with its connection pool rebuilt on the guarded backend (httpx offers no argument for a
    network backend, so the pool it built is replaced)."""

    def __init__(self, backend: GuardedBackend, verify: bool = True) -> None:
        super().__init__(verify=verify, trust_env=False)
        self._pool = httpcore2.ConnectionPool(ssl_context=self._pool._ssl_context, network_backend=backend,
                                              max_connections=20, max_keepalive_connections=10,
                                              keepalive_expiry=30.0)


@dataclass(frozen=True)
class EgressLimits:
    max_connect_seconds: float = 10.0
    max_read_seconds: float = 600.0
    max_write_seconds: float = 600.0
    max_text_bytes: int = 1024 * 1024
    max_file_bytes: int = 10 * 1024 * 1024
    max_redirects: int = 5


@dataclass(frozen=True)
class EgressResponse:
    status_code: int
    headers: dict[str, str]
    content: bytes
    content_type: str
    url: str

    @property
    def is_file(self) -> bool:
        return is_file_response(self.content_type, self.headers.get("content-disposition", ""))


def is_file_response(content_type: str, disposition: str = "") -> bool:
    if "attachment" in disposition.lower():
        return True
    kind = content_type.split(";")[0].strip().lower()
    return bool(kind) and not kind.startswith(TEXT_TYPES)


class EgressClient:
    """Thread-safe; one per process. `transport` is for tests that bypass the network entirely."""

    def __init__(self, policy: EgressPolicy, limits: EgressLimits | None = None,
                 transport: httpx2.BaseTransport | None = None) -> None:
        self.limits = limits or EgressLimits()
        self.backend = GuardedBackend(policy, self.limits.max_connect_seconds)
        self._verified = httpx2.Client(transport=transport or GuardedTransport(self.backend), trust_env=False,
                                       max_redirects=self.limits.max_redirects)
        self._unverified: httpx2.Client | None = None
        self._transport = transport

    def request(self, method: str, url: str, *, headers: list[tuple[str, str]] | None = None,
                params: list[tuple[str, str]] | None = None, content: bytes | None = None,
                files: list[tuple[str, tuple[str | None, bytes, str | None]]] | None = None,
                data: dict[str, str] | None = None,
                connect: float = 10.0, read: float = 60.0, write: float = 20.0, follow_redirects: bool = True,
                verify: bool = True) -> EgressResponse:
        """Send one request. Raises EgressRefused (a WorkflowError) for refused targets and oversize responses,
        ProviderRequestError (retryable) for timeouts and connection failures."""
        self._precheck(url)
        limits = self.limits
        timeout = httpx2.Timeout(connect=min(connect, limits.max_connect_seconds), pool=5.0,
                                 read=min(read, limits.max_read_seconds), write=min(write, limits.max_write_seconds))
        deadline = time.monotonic() + timeout.connect + timeout.read + timeout.write  # type: ignore[operator]
        client = self._verified if verify else self._insecure()
        try:
            with client.stream(method.upper(), url, headers=headers, params=params, content=content, files=files,
                               data=data, timeout=timeout, follow_redirects=follow_redirects) as response:
                headers_out = {k.lower(): v for k, v in response.headers.items()}
                content_type = headers_out.get("content-type", "")
                cap = limits.max_file_bytes if is_file_response(content_type, headers_out.get(
                    "content-disposition", "")) else limits.max_text_bytes
                body = self._read(response, cap, deadline)
                return EgressResponse(response.status_code, headers_out, body, content_type, str(response.url))
        except httpx2.TimeoutException as exc:
            raise ProviderRequestError(f"HTTP request timed out: {type(exc).__name__}") from exc
        except httpx2.TooManyRedirects as exc:
            raise WorkflowError(f"HTTP request followed more than {limits.max_redirects} redirects") from exc
        except (httpx2.InvalidURL, httpx2.UnsupportedProtocol) as exc:
            raise WorkflowError(f"invalid URL {url!r}: {exc}") from exc
        except httpx2.TransportError as exc:
            raise ProviderRequestError(f"HTTP request failed: {type(exc).__name__}: {exc}") from exc

    def _precheck(self, url: str) -> None:
        """Refuse what can be judged from the URL alone, with the clearest message."""
        scheme, _, rest = url.partition("://")
        if scheme.lower() not in ("http", "https") or not rest:
            raise WorkflowError(f"invalid URL {url!r}: only http and https URLs are allowed")
        authority = rest.split("/", 1)[0].split("?", 1)[0].rsplit("@", 1)[-1]
        host = authority[1:authority.index("]")] if authority.startswith("[") and "]" in authority \
            else authority.rsplit(":", 1)[0]
        literal = literal_address(host)
        if literal is not None and not self.backend.policy.admits(host, literal):
            raise EgressRefused(f"request to {host!r} refused: {refusal(literal)} "
                                "(add it to EGRESS_ALLOW to reach an intranet address)")

    @staticmethod
    def _read(response: httpx2.Response, cap: int, deadline: float) -> bytes:
        body = bytearray()
        for chunk in response.iter_bytes():
            body += chunk
            if len(body) > cap:
                raise EgressRefused(f"HTTP response is larger than {cap} bytes")
            if time.monotonic() > deadline:
                raise ProviderRequestError("HTTP response took longer than the request's time limit")
        return bytes(body)

    def _insecure(self) -> httpx2.Client:
        if self._unverified is None:
            self._unverified = httpx2.Client(transport=self._transport or GuardedTransport(self.backend, False),
                                             trust_env=False, max_redirects=self.limits.max_redirects)
        return self._unverified

    def close(self) -> None:
        self._verified.close()
        if self._unverified:
            self._unverified.close()
