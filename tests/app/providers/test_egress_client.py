"""The egress client's requests at their edges, through an in-process transport or a local server: what counts
as a file, the URL check alone, capped timeouts, size caps, the total-time limit, redirects, transport errors,
lookup and connect deadlines, and certificate verification."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from app.errors import ProviderRequestError, WorkflowError
from app.providers.egress import EgressClient, EgressLimits, EgressPolicy, EgressRefused


@pytest.mark.parametrize(("content_type", "disposition", "is_file"), [
    ("text/plain", "", False), ("TEXT/HTML; charset=utf-8", "", False), ("application/json", "", False),
    ("application/xml", "", False), ("application/javascript", "", False),
    ("application/x-javascript", "", False), ("application/x-www-form-urlencoded", "", False),
    ("application/yaml", "", False), ("application/x-yaml", "", False), ("application/ld+json", "", False),
    ("application/problem+json", "", False), ("application/xhtml+xml", "", False),
    ("application/rss+xml", "", False), ("application/atom+xml", "", False), ("", "", False),
    ("  ; charset=utf-8", "", False),
    ("application/octet-stream", "", True), (" Image/PNG ; q=1", "", True), ("application/pdf", "", True),
    ("text/plain", 'Attachment; filename="a.txt"', True), ("", "attachment", True),
    ("text/plain", "inline", False),
])
def test_what_counts_as_a_file(content_type, disposition, is_file):
    from app.providers.egress import EgressResponse, is_file_response

    assert is_file_response(content_type, disposition) is is_file
    headers = {"content-disposition": disposition} if disposition else {}
    assert EgressResponse(200, headers, b"", content_type, "http://x.example/").is_file is is_file


def mocked(handler, limits: EgressLimits | None = None, policy: str = "") -> EgressClient:
    """A client whose requests never leave the process: only `_precheck` guards it, the answers are `handler`'s."""
    import httpx2

    return EgressClient(EgressPolicy.parse(policy), limits, transport=httpx2.MockTransport(handler))


def test_the_url_alone_refuses_a_literal_private_host_before_any_connection():
    import httpx2

    seen: list[str] = []
    client = mocked(lambda request: seen.append(str(request.url)) or httpx2.Response(200))
    for url, host, address in (("http://127.0.0.1/", "127.0.0.1", "127.0.0.1"),
                               ("HTTPS://user:pw@127.0.0.1:8443/x", "127.0.0.1", "127.0.0.1"),
                               ("http://[::1]:8080/", "::1", "::1"), ("http://127.0.0.1?q=1", "127.0.0.1", "127.0.0.1"),
                               ("http://a@b@2130706433/", "2130706433", "127.0.0.1"),
                               ("http://[::1]/p?x=[1]", "::1", "::1"),
                               ("http://127.0.0.1/a/b", "127.0.0.1", "127.0.0.1"),
                               ("http://127.0.0.1?a=1?b=2", "127.0.0.1", "127.0.0.1"),
                               ("http://[::1]:8080]/", "::1", "::1")):
        with pytest.raises(EgressRefused) as info:
            client.request("GET", url)
        assert info.value.message == (f"request to {host!r} refused: {address} is not a public address (loopback) "
                                      "(add it to EGRESS_ALLOW to reach an intranet address)")
    assert seen == []
    for url in ("http://", "https://", "ftp://x.example/", "x.example/path"):
        with pytest.raises(WorkflowError) as failed:
            client.request("GET", url)
        assert failed.value.message == f"invalid URL {url!r}: only http and https URLs are allowed"
    # Public hosts and names pass (a name is vetted when connecting); so does an allowed literal.
    for url in ("http://93.184.216.34/", "https://example.org:8443/a", "http://[2606:4700::1111]/",
                "http://example.org/?next=http://127.0.0.1/"):
        assert client.request("GET", url).status_code == 200
    assert mocked(lambda request: httpx2.Response(204), policy="10.0.0.0/8").request(
        "GET", "http://10.0.0.1:8080/").status_code == 204


def test_requests_carry_capped_timeouts_and_answer_lowercased_headers():
    import httpx2

    sent: list[httpx2.Request] = []

    def answer(request):
        sent.append(request)
        return httpx2.Response(201, headers={"Content-Type": "text/plain", "X-Thing": "1"}, content=b"ok")

    client = mocked(answer)
    response = client.request("post", "http://example.org/a", content=b"body", headers=[("X-A", "1")],
                              params=[("q", "1")], connect=30.0, read=900.0, write=900.0)
    assert (response.status_code, response.content, response.content_type) == (201, b"ok", "text/plain")
    assert response.headers["content-type"] == "text/plain" and response.headers["x-thing"] == "1"
    assert response.url == "http://example.org/a?q=1" and not response.is_file
    assert sent[0].method == "POST" and sent[0].content == b"body" and sent[0].headers["x-a"] == "1"
    # The limits' defaults cap what a node asks for: 10 s to connect, 600 s to read or write, 5 s for the pool.
    assert sent[0].extensions["timeout"] == {"connect": 10.0, "read": 600.0, "write": 600.0, "pool": 5.0}
    client.request("GET", "http://example.org/", connect=1.0, read=2.0, write=3.0)
    assert sent[1].extensions["timeout"] == {"connect": 1.0, "read": 2.0, "write": 3.0, "pool": 5.0}
    strict = mocked(answer, EgressLimits(max_connect_seconds=0.5, max_read_seconds=0.6, max_write_seconds=0.7))
    strict.request("GET", "http://example.org/")
    assert sent[2].extensions["timeout"] == {"connect": 0.5, "read": 0.6, "write": 0.7, "pool": 5.0}
    generous = mocked(answer, EgressLimits(max_connect_seconds=100.0, max_read_seconds=100.0,
                                           max_write_seconds=100.0))
    generous.request("GET", "http://example.org/")  # a request's own defaults: 10 s, 60 s, 20 s
    assert sent[3].extensions["timeout"] == {"connect": 10.0, "read": 60.0, "write": 20.0, "pool": 5.0}
    form = client.request("PUT", "http://example.org/f", data={"k": "v"},
                          files=[("f", ("a.txt", b"abc", "text/plain"))])
    assert form.status_code == 201 and b'name="k"' in sent[4].content and b"abc" in sent[4].content


def test_bodies_are_capped_at_their_kind_of_limit_exactly():
    import httpx2

    def sized(request):
        kind = "image/png" if "file" in request.url.path else "text/plain"
        headers = {"Content-Type": kind}
        if "attached" in request.url.path:
            headers["Content-Disposition"] = "attachment"
        return httpx2.Response(200, headers=headers, content=b"x" * int(request.url.params["n"]))

    client = mocked(sized)  # the default limits: 1 MiB of text, 10 MiB of file
    text, files = 1024 * 1024, 10 * 1024 * 1024
    assert len(client.request("GET", f"http://example.org/text?n={text}").content) == text
    with pytest.raises(EgressRefused) as info:
        client.request("GET", f"http://example.org/text?n={text + 1}")
    assert info.value.message == f"HTTP response is larger than {text} bytes"
    assert len(client.request("GET", f"http://example.org/file?n={files}").content) == files
    assert len(client.request("GET", f"http://example.org/attached?n={text + 1}").content) == text + 1
    with pytest.raises(EgressRefused, match=f"larger than {files} bytes"):
        client.request("GET", f"http://example.org/file?n={files + 1}")
    # No Content-Type at all: text, with the text cap.
    small = mocked(lambda request: httpx2.Response(200, content=b"x" * int(request.url.params["n"])),
                   EgressLimits(max_text_bytes=10, max_file_bytes=100))
    plain = small.request("GET", "http://example.org/?n=10")
    assert plain.content_type == "" and not plain.is_file
    with pytest.raises(EgressRefused, match="larger than 10 bytes"):
        small.request("GET", "http://example.org/?n=11")


def test_a_body_that_trickles_past_the_total_time_is_cut_off():
    import time

    import httpx2

    class Trickle(httpx2.SyncByteStream):
        def __init__(self, chunks: int, pause: float) -> None:
            self.chunks, self.pause = chunks, pause

        def __iter__(self):
            for _ in range(self.chunks):
                time.sleep(self.pause)
                yield b"x"

    client = mocked(lambda request: httpx2.Response(200, stream=Trickle(20, 0.02)),
                    EgressLimits(max_connect_seconds=0.05, max_read_seconds=0.05, max_write_seconds=0.05))
    started = time.monotonic()
    with pytest.raises(ProviderRequestError) as info:
        client.request("GET", "http://example.org/")
    assert info.value.message == "HTTP response took longer than the request's time limit"
    assert info.value.retryable and time.monotonic() - started < 0.4
    # The time limit is connect + read + write (0.9 s): a body taking half a second is read whole.
    patient = mocked(lambda request: httpx2.Response(200, stream=Trickle(10, 0.05)),
                     EgressLimits(max_connect_seconds=0.3, max_read_seconds=0.3, max_write_seconds=0.3))
    assert patient.request("GET", "http://example.org/").content == b"x" * 10


def test_redirects_are_followed_up_to_the_limit():
    import httpx2

    def hop(request):
        left = int(request.url.params["left"])
        if left == 0:
            return httpx2.Response(200, content=b"arrived")
        return httpx2.Response(302, headers={"Location": f"http://example.org/?left={left - 1}"})

    client = mocked(hop)
    assert client.request("GET", "http://example.org/?left=5").content == b"arrived"
    with pytest.raises(WorkflowError) as info:
        client.request("GET", "http://example.org/?left=6")
    assert info.value.message == "HTTP request followed more than 5 redirects"
    assert client.request("GET", "http://example.org/?left=1", follow_redirects=False).status_code == 302
    tight = mocked(hop, EgressLimits(max_redirects=1))
    assert tight.request("GET", "http://example.org/?left=1").status_code == 200
    with pytest.raises(WorkflowError, match="more than 1 redirects"):
        tight.request("GET", "http://example.org/?left=2")
    # The unverified client (verify=False) keeps the same limit.
    assert tight.request("GET", "http://example.org/?left=1", verify=False).status_code == 200
    with pytest.raises(WorkflowError, match="more than 1 redirects"):
        tight.request("GET", "http://example.org/?left=2", verify=False)


def test_transport_failures_become_workflow_or_provider_errors():
    import httpx2

    def fail(exc):
        def handler(request):
            raise exc
        return mocked(handler)

    with pytest.raises(ProviderRequestError) as info:
        fail(httpx2.ReadTimeout("slow")).request("GET", "http://example.org/")
    assert info.value.message == "HTTP request timed out: ReadTimeout" and info.value.retryable
    with pytest.raises(ProviderRequestError) as info:
        fail(httpx2.ConnectError("refused")).request("GET", "http://example.org/")
    assert info.value.message == "HTTP request failed: ConnectError: refused" and info.value.retryable
    with pytest.raises(WorkflowError) as failed:
        fail(httpx2.UnsupportedProtocol("no")).request("GET", "http://example.org/")
    assert failed.value.message == "invalid URL 'http://example.org/': no" and not failed.value.retryable
    with pytest.raises(WorkflowError) as failed:
        mocked(lambda request: httpx2.Response(200)).request("GET", "http://example.org:abc/")
    assert failed.value.message == "invalid URL 'http://example.org:abc/': Invalid port: 'abc'"
    # A malformed port after a private address is reported as what it is, not as the address.
    with pytest.raises(WorkflowError) as failed:
        mocked(lambda request: httpx2.Response(200)).request("GET", "http://10.0.0.1:80:90/")
    assert failed.value.message == "invalid URL 'http://10.0.0.1:80:90/': Invalid port: '80:90'"


def test_the_unverified_client_is_made_once_and_closed_with_the_client():
    import httpx2

    client = mocked(lambda request: httpx2.Response(200))
    client.close()  # nothing unverified made yet: closing is fine
    client = mocked(lambda request: httpx2.Response(200))
    assert client.request("GET", "http://example.org/", verify=False).status_code == 200
    insecure = client._insecure()
    assert client._insecure() is insecure and insecure is not client._verified
    client.close()
    assert insecure.is_closed and client._verified.is_closed


def test_a_zero_connect_timeout_still_bounds_the_lookup():
    import time

    def slow(host: str, port: int) -> list[str]:
        time.sleep(0.5)
        return ["93.184.216.34"]

    client = EgressClient(EgressPolicy.parse(""), EgressLimits(max_connect_seconds=0.05))
    client.backend.resolver = slow
    started = time.monotonic()
    with pytest.raises(ProviderRequestError, match="resolving 'slow.example' timed out"):
        client.request("GET", "http://slow.example/", connect=0.0)
    assert time.monotonic() - started < 0.45
    # The request's own connect timeout bounds the lookup too, under a generous limit.
    client = EgressClient(EgressPolicy.parse(""))
    client.backend.resolver = slow
    started = time.monotonic()
    with pytest.raises(ProviderRequestError, match="resolving 'slow.example' timed out"):
        client.request("GET", "http://slow.example/", connect=0.1)
    assert time.monotonic() - started < 0.45


def test_a_connection_that_never_completes_ends_at_the_connect_timeout():
    import socket
    import threading

    # A listener whose backlog is full: the kernel drops further SYNs, so a connect hangs until its timeout.
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    waiting = []
    try:
        for _ in range(4):
            queued = socket.socket()
            queued.setblocking(False)
            queued.connect_ex(listener.getsockname())
            waiting.append(queued)
        client = EgressClient(EgressPolicy.parse("127.0.0.1"))
        failures: list[ProviderRequestError | WorkflowError] = []

        def connect() -> None:
            try:
                client.request("GET", f"http://127.0.0.1:{listener.getsockname()[1]}/", connect=0.3)
            except (ProviderRequestError, WorkflowError) as exc:  # handed over to the test's thread
                failures.append(exc)

        # A thread, so that a connect without a timeout fails this test instead of hanging it.
        attempt = threading.Thread(target=connect, daemon=True)
        attempt.start()
        attempt.join(2.0)
        assert not attempt.is_alive(), "the connect did not time out"
        assert len(failures) == 1 and isinstance(failures[0], ProviderRequestError)
        assert failures[0].message == "HTTP request timed out: ConnectTimeout"
    finally:
        for queued in waiting:
            queued.close()
        listener.close()


@pytest.fixture(scope="module")
def tls_sink(tmp_path_factory) -> Iterator[tuple[int, str]]:
    """An HTTPS server on 127.0.0.1 with a self-signed certificate no trust store knows; yields its port and the
    certificate's file."""
    import datetime as dt
    import ipaddress
    import ssl
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .sign(key, hashes.SHA256()))
    folder = tmp_path_factory.mktemp("tls")
    (folder / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / "key.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                                       serialization.PrivateFormat.PKCS8,
                                                       serialization.NoEncryption()))

    class Hello(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", "5")
            self.end_headers()
            self.wfile.write(b"hello")

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Hello)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(folder / "cert.pem", folder / "key.pem")
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1], str(folder / "cert.pem")
    server.shutdown()
    server.server_close()


def test_certificates_are_verified_unless_a_node_turns_it_off(tls_sink):
    port, _ = tls_sink
    client = EgressClient(EgressPolicy.parse("127.0.0.1"))
    url = f"https://127.0.0.1:{port}/"
    with pytest.raises(ProviderRequestError, match="CERTIFICATE_VERIFY_FAILED"):
        client.request("GET", url)
    unchecked = client.request("GET", url, verify=False)
    assert unchecked.status_code == 200 and unchecked.content == b"hello"
    with pytest.raises(ProviderRequestError, match="CERTIFICATE_VERIFY_FAILED"):
        client.request("GET", url)  # the unverified client is a separate one
    assert client.request("GET", url, verify=False).content == b"hello"  # ... made once, reused
    # Unverified, the guard still applies, to names resolved when connecting too.
    with pytest.raises(EgressRefused):
        EgressClient(EgressPolicy.parse("")).request("GET", url, verify=False)
    with pytest.raises(EgressRefused, match="not a public address"):
        EgressClient(EgressPolicy.parse("")).request("GET", f"https://localhost:{port}/", verify=False)
    client.close()


def test_certificate_authorities_named_by_the_environment_are_not_trusted(tls_sink, monkeypatch):
    port, certificate = tls_sink
    monkeypatch.setenv("SSL_CERT_FILE", certificate)
    client = EgressClient(EgressPolicy.parse("127.0.0.1"))
    with pytest.raises(ProviderRequestError, match="CERTIFICATE_VERIFY_FAILED"):
        client.request("GET", f"https://127.0.0.1:{port}/")
