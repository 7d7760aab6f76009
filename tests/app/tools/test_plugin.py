"""Dify plugins on the real dify-plugin SDK: a small plugin of our own (tests/fixtures/plugins/trellis_echo),
installed from a folder and from a .difypkg, run in its own confined child process.

The SDK (0.10) needs Python >= 3.12 while Trellis runs on 3.11, so plugins get their own runtime environment,
built here once per machine by the real installer (`ensure_runtime`, pip from the package index) in the user's
cache folder, so fresh clones reuse it (tests/app/tools/plugin_kit.py finds the base interpreter; without one
the process tests skip and say so)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from app.engine.ports import ToolRef
from app.errors import InvalidParam, ToolCredentialsMissing, ToolInvokeError, ToolNotFound
from app.providers.egress import EgressPolicy, GuardedBackend
from app.tools import plugin
from app.tools.plugin_package import read_package, unpack
from app.tools.provider import ProviderContext
from tests.app.tools import plugin_kit
from tests.app.tools.tiny_registry import TinyRegistry
from tests.http_sink import HttpSink, start_sink

ROOT = Path(__file__).resolve().parents[3]
FIXTURE, PROVIDER_ID = plugin_kit.FIXTURE, plugin_kit.PROVIDER_ID
KEY = {"api_key": "sk-test-5678"}
# The first test also builds the plugin runtime (pip, about a minute on a fresh machine).
pytestmark = pytest.mark.timeout(600)


@pytest.fixture(scope="module")
def base_python() -> str:
    return plugin_kit.base_python()


@pytest.fixture(scope="module")
def sink() -> Iterator[HttpSink]:
    server = start_sink()
    yield server
    server.close()


@pytest.fixture(scope="module")
def host(base_python: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[plugin.PluginHost]:
    host = plugin.PluginHost(GuardedBackend(EgressPolicy.parse("127.0.0.1")), base_python,
                             tmp_path_factory.mktemp("packages"), plugin_kit.runtimes_cache())
    yield host
    host.close()


@pytest.fixture(scope="module")
def installed(host: plugin.PluginHost) -> dict[str, object]:
    [(provider_id, config)] = plugin.install_package(host, FIXTURE)
    return {"id": provider_id, "config": config}


def _provider(host: plugin.PluginHost, installed: dict[str, object], timeout: float = 30.0) -> plugin.PluginProvider:
    return plugin.from_config(str(installed["id"]), installed["config"],  # type: ignore[arg-type]
                              ProviderContext(timeout_seconds=timeout, extras={"plugin_host": host}))


def test_reads_the_manifest_and_tool_schemas() -> None:
    package = read_package(FIXTURE)
    assert package.plugin_id == "trellis/trellis_echo" and package.entrypoint == "main"
    [provider] = package.providers
    assert provider.credentials == ({"name": "api_key", "type": "secret-input", "required": True},)
    tools = {t.name: t for t in provider.tools}
    assert set(tools) == {"echo", "fetch", "wait", "peek", "remember"}
    echo = tools["echo"]
    assert echo.description == "Repeats the given text a number of times."
    assert echo.parameters["required"] == ["text"]
    assert echo.parameters["properties"]["times"] == {"type": "number", "description": "How often", "default": 1}
    assert echo.parameters["properties"]["style"]["enum"] == ["plain", "upper"]


def test_unpack_refuses_escaping_entries(tmp_path: Path) -> None:
    archive = tmp_path / "evil.difypkg"
    with zipfile.ZipFile(archive, "w") as bundle:
        bundle.writestr("manifest.yaml", "type: plugin\n")
        bundle.writestr("../outside.txt", "x")
    with pytest.raises(InvalidParam, match="leaves the package"):
        unpack(archive, tmp_path / "out")
    assert not (tmp_path / "outside.txt").exists()
    with pytest.raises(InvalidParam, match="no manifest"):
        read_package(tmp_path)


def test_installed_from_a_folder_and_invoked_with_credentials(host: plugin.PluginHost,
                                                              installed: dict[str, object]) -> None:
    assert installed["id"] == PROVIDER_ID
    provider = _provider(host, installed)
    assert {s.ref.tool_name for s in provider.tools()} == {"echo", "fetch", "wait", "peek", "remember"}
    result = provider.invoke("echo", {"text": "ab", "times": 2}, KEY)
    assert result.text == "abab"
    assert result.json == ({"text": "abab", "key_suffix": "5678"},)  # the credential reached the plugin
    assert result.variables == {"length": 4}
    [blob] = result.files
    assert blob["filename"] == "echo.txt" and blob["mime_type"] == "text/plain" and blob["size"] == 4
    assert blob["url"] == "data:text/plain;base64,YWJhYg=="
    assert provider.invoke("echo", {"text": "ok", "style": "upper"}, KEY).text == "OK"
    # Text from a template is converted as Dify does; absent parameters get their declared default.
    assert provider.invoke("echo", {"text": "x", "times": "3", "style": ""}, KEY).text == "xxx"
    with pytest.raises(ToolInvokeError, match="'times' must be a number"):
        provider.invoke("echo", {"text": "x", "times": "many"}, KEY)


def test_installed_from_a_difypkg(host: plugin.PluginHost, tmp_path: Path) -> None:
    archive = plugin_kit.difypkg(tmp_path / "trellis_echo.difypkg")
    [(provider_id, config)] = plugin.install_package(host, archive)
    assert provider_id == PROVIDER_ID and config["package_dir"] != str(FIXTURE)
    provider = plugin.from_config(provider_id, config, ProviderContext(extras={"plugin_host": host}))
    assert provider.invoke("echo", {"text": "zip"}, KEY).text == "zip"


def test_concurrent_calls_share_one_child(host: plugin.PluginHost, installed: dict[str, object]) -> None:
    provider = _provider(host, installed)
    with ThreadPoolExecutor(4) as pool:
        texts = list(pool.map(lambda i: provider.invoke("echo", {"text": f"t{i}"}, KEY).text, range(12)))
    assert texts == [f"t{i}" for i in range(12)]


def test_a_child_that_cannot_start_says_why(installed: dict[str, object]) -> None:
    config = dict(installed["config"], python=sys.executable)  # type: ignore[arg-type]  # 3.11: no SDK there
    host = plugin.PluginHost()
    try:
        provider = plugin.from_config(PROVIDER_ID, config, ProviderContext(extras={"plugin_host": host}))
        with pytest.raises(ToolInvokeError, match="exited .*No module named .dify_plugin."):
            provider.invoke("echo", {"text": "x"}, KEY)
    finally:
        host.close()


def test_backwards_invocations_are_answered_with_an_error(host: plugin.PluginHost,
                                                          installed: dict[str, object]) -> None:
    provider = _provider(host, installed, timeout=20.0)
    with pytest.raises(ToolInvokeError, match="does not offer backwards invocation"):
        provider.invoke("remember", {"value": "v"}, KEY)
    assert provider.invoke("echo", {"text": "still here"}, KEY).text == "still here"


def test_credentials_are_required_and_validated(host: plugin.PluginHost, installed: dict[str, object]) -> None:
    provider = _provider(host, installed)
    with pytest.raises(ToolCredentialsMissing, match="api_key"):
        provider.invoke("echo", {"text": "x"}, {})
    with pytest.raises(ToolCredentialsMissing, match="must start with sk-"):
        provider.validate_credentials({"api_key": "wrong-key"})
    provider.validate_credentials(KEY)
    with pytest.raises(ToolNotFound):
        provider.invoke("nope", {}, KEY)


def test_a_call_past_its_deadline_kills_the_child(host: plugin.PluginHost, installed: dict[str, object]) -> None:
    provider = _provider(host, installed, timeout=2.0)
    provider.invoke("echo", {"text": "warm"}, KEY)
    process = host.process(provider.package, provider.config.python, provider.config.memory_mb)
    first = process.pid
    assert first is not None
    with pytest.raises(ToolInvokeError, match="did not answer within 2s"):
        provider.invoke("wait", {"seconds": 30}, KEY)
    assert process.pid is None and not _alive(first)
    assert provider.invoke("echo", {"text": "again"}, KEY).text == "again"  # a fresh child


def test_child_limits(host: plugin.PluginHost, installed: dict[str, object]) -> None:
    provider = _provider(host, installed)
    provider.invoke("echo", {"text": "x"}, KEY)
    pid = host.process(provider.package, provider.config.python, provider.config.memory_mb).pid
    limits = Path(f"/proc/{pid}/limits").read_text()
    assert f"{1024 * 1024 * 1024}" in next(line for line in limits.splitlines() if "address space" in line)
    assert os.getpgid(pid) == pid  # its own process group
    environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    assert not any(e.startswith((b"DATABASE_URL", b"REDIS_URL", b"OPENAI_API_KEY")) for e in environ)


def test_files_outside_the_plugin_are_out_of_reach(host: plugin.PluginHost, installed: dict[str, object],
                                                   tmp_path: Path) -> None:
    from app.providers.sandbox_confine import _landlock_abi

    if _landlock_abi() == 0:
        pytest.skip("this kernel has no Landlock")
    provider = _provider(host, installed)
    assert provider.invoke("peek", {"path": "manifest.yaml"}, KEY).text.startswith("version: 0.0.1")
    secret = tmp_path / "secret.txt"
    secret.write_text("worker secret")
    for path in (str(secret), f"/proc/{os.getpid()}/environ"):
        with pytest.raises(ToolInvokeError, match="PermissionError"):
            provider.invoke("peek", {"path": path}, KEY)


def test_network_goes_through_the_egress_guard(host: plugin.PluginHost, installed: dict[str, object],
                                               sink: HttpSink) -> None:
    provider = _provider(host, installed)
    assert '"path": "/via-proxy"' in provider.invoke("fetch", {"url": f"{sink.url}/via-proxy"}, KEY).text
    # The metadata address is refused by the guard before any connection is made.
    with pytest.raises(ToolInvokeError, match="403"):
        provider.invoke("fetch", {"url": "http://169.254.169.254/latest/meta-data/"}, KEY)
    strict = plugin.PluginHost(GuardedBackend(EgressPolicy()))
    try:
        guarded = plugin.PluginProvider(PROVIDER_ID, provider.config, strict, 30.0)
        with pytest.raises(ToolInvokeError, match="403"):
            guarded.invoke("fetch", {"url": f"{sink.url}/refused"}, KEY)
        assert strict.proxy.refusals == 1
    finally:
        strict.close()
    assert not any(r.path == "/refused" for r in sink.requests)


def test_sockets_that_skip_the_proxy_are_refused(host: plugin.PluginHost, installed: dict[str, object],
                                                 sink: HttpSink) -> None:
    from app.providers.sandbox_confine import _landlock_abi

    if _landlock_abi() < 4:
        pytest.skip("this kernel has no Landlock network rules (ABI < 4)")
    provider = _provider(host, installed)
    with pytest.raises(ToolInvokeError, match="ConnectError"):
        provider.invoke("fetch", {"url": f"{sink.url}/direct", "direct": True}, KEY)
    assert not any(r.path == "/direct" for r in sink.requests)


PARENT = """
import sys, time
from app.providers.egress import EgressPolicy, GuardedBackend
from app.tools import plugin
from app.tools.provider import ProviderContext
host = plugin.PluginHost(GuardedBackend(EgressPolicy()))
config = {"package_dir": sys.argv[1], "provider": "trellis_echo", "python": sys.argv[2]}
provider = plugin.from_config("p", config, ProviderContext(extras={"plugin_host": host}))
provider.invoke("echo", {"text": "x"}, {"api_key": "sk-1"})
print(host.process(provider.package, sys.argv[2], 1024).pid, flush=True)
time.sleep(60)
"""


def test_the_child_dies_with_its_parent(installed: dict[str, object]) -> None:
    config = installed["config"]
    assert isinstance(config, dict)
    parent = subprocess.Popen([sys.executable, "-c", PARENT, config["package_dir"], config["python"]],
                              stdout=subprocess.PIPE, cwd=ROOT, start_new_session=True)
    try:
        assert parent.stdout is not None
        child = int(parent.stdout.readline())
        assert _alive(child)
    finally:
        parent.kill()  # the parent only, not its group: the child must notice by itself
        parent.wait()
    deadline = time.monotonic() + 5
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(child)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_through_the_tool_port(host: plugin.PluginHost, installed: dict[str, object]) -> None:
    registry = TinyRegistry()
    registry.add(_provider(host, installed), KEY)
    ref = ToolRef("plugin", PROVIDER_ID, "echo")
    assert registry.describe("ws", ref).parameters["properties"]["text"]["type"] == "string"
    result = registry.invoke("ws", ref, {"text": "port"})
    assert result.text == "port" and result.json[0]["key_suffix"] == "5678"


def test_a_package_removed_by_another_process_fails_clearly_and_stops_its_child(
        host: plugin.PluginHost, tmp_path: Path) -> None:
    [(provider_id, config)] = plugin.install_package(host, plugin_kit.difypkg(tmp_path / "echo.difypkg"))
    provider = plugin.from_config(provider_id, config, ProviderContext(extras={"plugin_host": host}))
    assert provider.invoke("echo", {"text": "x"}, KEY).text == "x"
    child = host.process(provider.package, config["python"])
    assert child.pid is not None
    shutil.rmtree(config["package_dir"])  # what another process's delete did
    with pytest.raises(ToolNotFound, match="was removed"):
        provider.invoke("echo", {"text": "x"}, KEY)
    assert child.pid is None


def test_discard_deletes_only_folders_under_the_packages_dir(host: plugin.PluginHost, tmp_path: Path) -> None:
    outside = tmp_path / "mine"
    outside.mkdir()
    host.discard(outside)
    assert outside.exists()
    assert host.packages_dir is not None
    host.discard(host.packages_dir)  # never the packages folder itself
    assert host.packages_dir.is_dir()
