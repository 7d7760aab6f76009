"""The code sandbox against hostile snippets: each fails only its own execution with a clear error, and the
parent (the worker) keeps serving. Each kernel layer is also checked alone, where this host provides it."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from app.errors import WorkflowError
from app.providers.sandbox import ProcessSandbox, SandboxLimits

LIMITS = SandboxLimits(wall_seconds=3.0, cpu_seconds=1, memory_mb=128, output_bytes=100_000)
APP_CONFIG = Path(__file__).resolve().parents[3] / "app" / "settings.py"


@pytest.fixture(scope="module")
def sandbox() -> ProcessSandbox:
    return ProcessSandbox(LIMITS)


def fails(sandbox: ProcessSandbox, code: str, inputs: dict | None = None) -> str:
    with pytest.raises(WorkflowError) as info:
        sandbox.run("python3", code, inputs or {})
    return info.value.message


def assert_still_serving(sandbox: ProcessSandbox) -> None:
    assert sandbox.run("python3", "def main(x):\n    return {'y': x + 1}\n", {"x": 1}) == {"y": 2}


def test_runs_main_with_inputs_in_a_clean_process(sandbox):
    code = ("import os, json, re, math, datetime\n"
            "def main(a, b):\n"
            "    return {'sum': a + b, 'env': dict(os.environ), 'cwd': os.listdir('.'), 'pid': os.getpid()}\n")
    out = sandbox.execute("python3", code, {"a": 2, "b": 3})
    assert out.result["sum"] == 5
    assert out.result["cwd"] == []  # a fresh, empty working folder
    assert out.result["pid"] != os.getpid()
    assert "audit" in out.layers and "rlimits" in out.layers


def test_the_childs_environment_holds_no_secret(sandbox, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-very-secret")
    out = sandbox.run("python3", "import os\ndef main():\n    return {'env': dict(os.environ)}\n", {})
    assert "sk-very-secret" not in str(out)
    assert "OPENAI_API_KEY" not in out["env"]


def test_infinite_loop_hits_the_cpu_limit():
    # A wall clock far above the CPU limit: on a busy machine one CPU second can take several wall seconds.
    patient = ProcessSandbox(SandboxLimits(wall_seconds=30.0, cpu_seconds=1, memory_mb=128))
    assert "CPU time limit" in fails(patient, "def main():\n    while True:\n        pass\n")
    assert_still_serving(patient)


def test_sleeping_forever_hits_the_wall_clock_limit():
    import time

    quick = ProcessSandbox(SandboxLimits(wall_seconds=0.5, cpu_seconds=1))
    started = time.monotonic()
    assert "timed out after 0.5s" in fails(quick, "import time\ndef main():\n    time.sleep(20)\n")
    assert time.monotonic() - started < 10  # at the limit, not when the child would have finished


def test_memory_bomb_is_refused(sandbox):
    assert "memory limit" in fails(sandbox, "def main():\n    return {'x': 'a' * (10 ** 10)}\n")
    assert "memory limit" in fails(sandbox, "def main():\n    l = []\n    while True:\n        l.append(' ' * 10**6)\n")
    assert_still_serving(sandbox)


def test_fork_bomb_is_refused(sandbox):
    message = fails(sandbox, "import os\ndef main():\n    while True:\n        os.fork()\n")
    assert "PermissionError" in message and "fork" in message
    assert_still_serving(sandbox)


@pytest.mark.parametrize("code", [
    "import os\ndef main():\n    os.system('touch /tmp/pwned')\n",
    "import subprocess\ndef main():\n    subprocess.run(['id'])\n",
    "import os\ndef main():\n    os.execv('/bin/sh', ['sh'])\n",
])
def test_no_subprocesses(sandbox, code):
    assert "PermissionError" in fails(sandbox, code)


def test_no_network(sandbox, llm_server):
    # The stub LLM server listens on this host: a real, reachable target for the snippet.
    host, port = llm_server.base_url.split("//")[1].split("/")[0].split(":")
    code = ("import socket\ndef main(h, p):\n    s = socket.create_connection((h, int(p)), timeout=2)\n"
            "    return {'connected': True}\n")
    assert "not allowed" in fails(sandbox, code, {"h": host, "p": port})


@pytest.mark.parametrize("path", ["/etc/passwd", str(APP_CONFIG), "/proc/self/environ"])
def test_no_host_files(sandbox, path):
    assert "not allowed" in fails(sandbox, "def main(p):\n    return {'t': open(p).read()}\n", {"p": path})


def test_ctypes_is_refused(sandbox):
    assert "ImportError" in fails(sandbox, "import ctypes\ndef main():\n    return {}\n")


def test_errors_are_clear(sandbox):
    assert "ZeroDivisionError" in fails(sandbox, "def main():\n    return {'x': 1 / 0}\n")
    assert "line 2" in fails(sandbox, "def main():\n    return {'x': 1 / 0}\n")
    assert "must define a function `main`" in fails(sandbox, "x = 1\n")
    assert "must return a dict" in fails(sandbox, "def main():\n    return [1]\n")
    assert "larger than 100000 bytes" in fails(sandbox, "def main():\n    return {'x': 'a' * 200000}\n")


def test_unsupported_language():
    with pytest.raises(WorkflowError, match="not supported"):
        ProcessSandbox(LIMITS).run("javascript", "function main() {}", {})


def test_concurrent_executions_are_independent(sandbox):
    results: list[dict] = []
    code = "def main(i):\n    return {'i': i * i}\n"
    threads = [threading.Thread(target=lambda i=i: results.append(sandbox.run("python3", code, {"i": i})))
               for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(r["i"] for r in results) == [0, 1, 4, 9, 16, 25]


# -- each kernel layer on its own: the audit hook is not the only wall -------------------------------------------

def layer(name: str) -> ProcessSandbox:
    box = ProcessSandbox(LIMITS, layers=(name,))
    applied = box.execute("python3", "def main():\n    return {}\n", {}).layers
    if not any(a.startswith(name) for a in applied):
        pytest.skip(f"this host does not provide the {name} layer")
    return box


def test_landlock_alone_blocks_files_exec_and_tcp(llm_server):
    box = layer("landlock")
    assert "Permission denied" in fails(box, "def main():\n    return {'t': open('/etc/passwd').read()}\n")
    assert "Permission denied" in fails(box, "import os\ndef main():\n    os.execv('/bin/sh', ['sh'])\n")
    host, port = llm_server.base_url.split("//")[1].split("/")[0].split(":")
    code = "import socket\ndef main(h, p):\n    socket.create_connection((h, int(p)), timeout=2)\n    return {}\n"
    assert "Permission denied" in fails(box, code, {"h": host, "p": port})


def test_seccomp_alone_blocks_fork_sockets_and_signals():
    box = layer("seccomp")
    for code in ("import os\ndef main():\n    os.fork()\n",
                 "import socket\ndef main():\n    socket.socket()\n",
                 "import os\ndef main():\n    os.kill(1, 0)\n"):
        assert "Operation not permitted" in fails(box, code)


def test_network_namespace_alone_has_no_route(llm_server):
    box = layer("netns")
    host, port = llm_server.base_url.split("//")[1].split("/")[0].split(":")
    code = "import socket\ndef main(h, p):\n    socket.create_connection((h, int(p)), timeout=2)\n    return {}\n"
    message = fails(box, code, {"h": host, "p": port})
    assert "unreachable" in message or "refused" in message


def test_files_in_the_working_folder_are_capped_in_size():
    small = ProcessSandbox(SandboxLimits(wall_seconds=10.0, cpu_seconds=2, memory_mb=128, file_bytes=100_000))
    write = ("def main(n):\n"
             "    with open('out.bin', 'wb') as f:\n"
             "        f.write(b'x' * n)\n"
             "    import os\n"
             "    return {'size': os.path.getsize('out.bin')}\n")
    assert small.run("python3", write, {"n": 90_000}) == {"size": 90_000}  # just under the cap
    with pytest.raises(WorkflowError):
        small.run("python3", write, {"n": 200_000})
    assert_still_serving(small)


# -- what the parent sets up and reads back, at its edges ------------------------------------------------------

def test_the_child_runs_isolated_in_its_own_session_folder_and_limits(tmp_path):
    import tempfile

    box = ProcessSandbox(SandboxLimits(wall_seconds=5.0, cpu_seconds=2, memory_mb=96, file_bytes=123_456),
                         work_root=str(tmp_path))
    code = ("import os, sys, resource\n"
            "def main():\n"
            "    limit = resource.getrlimit\n"
            "    return {'flags': [sys.flags.isolated, sys.flags.no_site, sys.flags.dont_write_bytecode],\n"
            "            'leader': os.getsid(0) == os.getpid(), 'cwd': os.getcwd(),\n"
            "            'as': limit(resource.RLIMIT_AS)[0], 'cpu': limit(resource.RLIMIT_CPU)[0],\n"
            "            'fsize': limit(resource.RLIMIT_FSIZE)[0]}\n")
    out = box.execute("python3", code, {})
    assert out.result["flags"] == [1, 1, 1]  # -I -S -B: no environment, no site-packages, no .pyc written
    assert out.result["leader"]  # its own session: the whole group can be killed
    assert out.result["cwd"].startswith(f"{tmp_path}/trellis-sbx-{os.getpid()}-")  # its owner, for the reaper
    assert (out.result["as"], out.result["cpu"], out.result["fsize"]) == (96 * 1024 * 1024, 2, 123_456)
    assert 0 < out.elapsed < 5.0
    assert list(tmp_path.iterdir()) == []  # the folder went with the run
    # Without a work root the folder is made in the system's temporary folder.
    cwd = sandbox_cwd(ProcessSandbox(LIMITS))
    assert os.path.dirname(cwd) == tempfile.gettempdir() and not os.path.exists(cwd)


def sandbox_cwd(box: ProcessSandbox) -> str:
    return str(box.run("python3", "import os\ndef main():\n    return {'cwd': os.getcwd()}\n", {})["cwd"])


def test_seccomp_is_applied_whenever_its_library_is_installed(sandbox):
    from app.providers.sandbox import _seccomp_path

    folder = _seccomp_path()
    if folder is None:
        pytest.skip("pyseccomp is not installed")
    assert any(Path(folder).glob("pyseccomp*"))  # the folder the child imports it from
    assert "seccomp" in sandbox.execute("python3", "def main():\n    return {}\n", {}).layers


def test_descriptors_of_the_worker_never_reach_the_child(sandbox):
    leaked = os.dup2(os.open(os.devnull, os.O_RDONLY), 200, inheritable=True)
    try:
        code = ("import os\ndef main(fd):\n    try:\n        os.fstat(fd)\n        return {'open': True}\n"
                "    except OSError:\n        return {'open': False}\n")
        assert sandbox.run("python3", code, {"fd": leaked}) == {"open": False}
    finally:
        os.close(leaked)


def test_inputs_that_cannot_be_sent_are_refused_before_any_child_starts(tmp_path):
    box = ProcessSandbox(LIMITS, work_root=str(tmp_path))
    with pytest.raises(WorkflowError, match="code inputs are not JSON"):
        box.run("python3", "def main(s):\n    return {}\n", {"s": "\ud800"})  # a lone surrogate
    with pytest.raises(WorkflowError, match="code inputs are not JSON"):
        box.run("python3", "def main(s):\n    return {}\n", {"s": object()})
    assert list(tmp_path.iterdir()) == []


def test_a_run_that_ends_within_its_last_second_is_not_a_timeout():
    quick = ProcessSandbox(SandboxLimits(wall_seconds=1.0, cpu_seconds=1, memory_mb=128))
    assert quick.run("python3", "def main():\n    return {'ok': 1}\n", {}) == {"ok": 1}


# A hostile snippet can find the descriptor the child answers on (a pipe) and write to it directly.
RAW = ("import os, stat\n"
       "def reply_fd():\n"
       "    for fd in range(3, os.sysconf('SC_OPEN_MAX')):\n"
       "        try:\n"
       "            if stat.S_ISFIFO(os.fstat(fd).st_mode):\n"
       "                return fd\n"
       "        except OSError:\n"
       "            pass\n")
SMALL = SandboxLimits(wall_seconds=2.0, cpu_seconds=1, memory_mb=128, output_bytes=1000)


@pytest.fixture(scope="module")
def small() -> ProcessSandbox:
    return ProcessSandbox(SMALL)


@pytest.mark.parametrize(("written", "message"), [
    (b'{"ok": false}\n', "code execution failed: unknown error"),
    (b"[1]\n", "code exited (status 0) without a result"),
    (b"x" * 1000, "code exited (status 0) without a result"),  # exactly the cap: not over it
    (b"x" * 1001, "code output is larger than 1000 bytes"),
])
def test_whatever_the_child_writes_back_fails_clearly(small, written, message):
    code = RAW + "def main(data):\n    os.write(reply_fd(), data.encode('latin-1'))\n    os._exit(0)\n"
    assert fails(small, code, {"data": written.decode("latin-1")}) == message


def test_output_past_the_cap_ends_the_run_at_once(small):
    import time

    # The reply's slack (4096 bytes) and one more, then the child would sleep far past the wall clock.
    code = RAW + "def main(n):\n    os.write(reply_fd(), b'x' * n)\n    import time\n    time.sleep(10)\n"
    started = time.monotonic()
    assert fails(small, code, {"n": 1000 + 4097}) == "code output is larger than 1000 bytes"
    assert time.monotonic() - started < 2.0


def test_only_the_last_line_written_back_is_the_reply(small):
    code = RAW + "def main():\n    os.write(reply_fd(), b'noise\\n')\n    return {'a': 1}\n"
    assert small.run("python3", code, {}) == {"a": 1}
    forged = RAW + "def main():\n    os.write(reply_fd(), b'{\"ok\": true, \"result\": {\"b\": 2}}')\n    os._exit(0)\n"
    assert small.execute("python3", forged, {}).layers == ()


def test_a_child_that_dies_names_its_signal_status_or_last_error_line(small):
    assert fails(small, "import os\ndef main():\n    os.write(2, b'first\\nsecond\\nboom\\n')\n    os._exit(3)\n") \
        == "code execution failed: boom"
    assert fails(small, "import os\ndef main():\n    os.write(2, b'bad \\xff byte\\n')\n    os._exit(1)\n") == \
        "code execution failed: bad \ufffd byte"
    # The kernel ends a child past its CPU time with SIGXCPU, or SIGKILL at the hard limit.
    for name in ("SIGXCPU", "SIGKILL"):
        code = f"import signal\ndef main():\n    signal.raise_signal(signal.{name})\n"
        assert fails(small, code) == "code execution exceeded the CPU time limit (1s)"
    # A MemoryError the child could not report itself.
    code = "import os\ndef main():\n    os.write(2, b'Traceback\\nMemoryError\\n')\n    os._exit(1)\n"
    assert fails(small, code) == "code execution exceeded the memory limit (128 MB)"
    assert fails(small, "import os\ndef main():\n    os._exit(3)\n") == "code exited (status 3) without a result"
    assert fails(small, "import os\ndef main():\n    os.abort()\n") == "code execution crashed (signal SIGABRT)"


def test_a_child_that_closes_its_pipes_and_lingers_still_times_out():
    brief = ProcessSandbox(SandboxLimits(wall_seconds=0.8, cpu_seconds=1, memory_mb=128))
    code = RAW + "def main():\n    os.close(reply_fd())\n    os.close(2)\n    import time\n    time.sleep(10)\n"
    assert fails(brief, code) == "code execution timed out after 0.8s (wall clock)"


def test_world_readable_needs_read_and_search_for_others_up_the_tree():
    import tempfile

    from app.providers.sandbox import _world_readable

    with tempfile.TemporaryDirectory() as top:
        lib = Path(top, "lib")
        lib.mkdir()
        for top_mode, lib_mode, readable in ((0o755, 0o755, True), (0o711, 0o705, True), (0o755, 0o750, False),
                                             (0o755, 0o751, False), (0o755, 0o754, False), (0o754, 0o755, False),
                                             (0o700, 0o755, False)):
            os.chmod(top, top_mode)
            os.chmod(lib, lib_mode)
            assert _world_readable(str(lib)) is readable, (oct(top_mode), oct(lib_mode))
        os.chmod(top, 0o700)


@pytest.mark.parametrize(("euid", "readable", "run_as"), [(0, True, 65534), (0, False, None), (1000, True, None)])
def test_the_child_drops_to_nobody_only_when_root_and_nobody_can_read_the_interpreter(monkeypatch, euid, readable,
                                                                                       run_as):
    import app.providers.sandbox as module

    checked: list[str] = []
    monkeypatch.setattr(module.os, "geteuid", lambda: euid)
    monkeypatch.setattr(module, "_world_readable", lambda path: checked.append(path) or readable)
    assert ProcessSandbox(LIMITS)._run_as == run_as
    if euid == 0:
        assert checked == [os.path.realpath(__import__("sysconfig").get_paths()["stdlib"])]


# -- the relay as the child sees it: request lines in, reply lines out --------------------------------------------

RELAY = ("import os, stat, select, time\n"
         "def relay_fd():\n"
         "    for fd in range(3, os.sysconf('SC_OPEN_MAX')):\n"
         "        try:\n"
         "            if stat.S_ISSOCK(os.fstat(fd).st_mode):\n"
         "                return fd\n"
         "        except OSError:\n"
         "            pass\n"
         "def main(parts, pause):\n"
         "    fd = relay_fd()\n"
         "    for part in parts:\n"
         "        os.write(fd, part.encode())\n"
         "        time.sleep(pause)\n"
         "    got = b''\n"
         "    while select.select([fd], [], [], 0.3)[0]:\n"
         "        chunk = os.read(fd, 65536)\n"
         "        if not chunk:\n"
         "            break\n"
         "        got += chunk\n"
         "    return {'replies': got.decode()}\n")


@pytest.fixture(scope="module")
def relayed():
    """A sandbox whose HTTP goes to an in-process transport answering with the path; records the requests."""
    import httpx2

    from app.providers.egress import EgressClient, EgressPolicy

    seen: list = []

    def answer(request):
        seen.append(request)
        return httpx2.Response(200, content=request.url.path.encode())

    http = EgressClient(EgressPolicy.parse(""), transport=httpx2.MockTransport(answer))
    box = ProcessSandbox(SandboxLimits(wall_seconds=6.0, cpu_seconds=2, memory_mb=128, file_bytes=1000), http=http)
    return box, seen


def relay_replies(box: ProcessSandbox, parts: list[str], pause: float = 0.0) -> list[dict]:
    import json

    out = box.run("python3", RELAY, {"parts": parts, "pause": pause})["replies"]
    return [json.loads(line) for line in out.splitlines()]


def request_line(path: str) -> str:
    import json

    return json.dumps({"method": "GET", "url": f"http://example.org{path}", "timeout": 60}) + "\n"


def test_every_request_line_is_answered_in_order_however_it_arrives(relayed):
    import base64

    box, seen = relayed
    both = relay_replies(box, [request_line("/a") + request_line("/b")])
    assert [base64.b64decode(r["body"]) for r in both] == [b"/a", b"/b"]
    line = request_line("/split")
    split = relay_replies(box, [line[:10], line[10:]], pause=0.1)
    assert [base64.b64decode(r["body"]) for r in split] == [b"/split"]
    # The three phases of a request share what is left of the run's wall clock.
    assert seen[-1].extensions["timeout"]["read"] <= 6.0 / 3


def test_a_request_line_longer_than_any_request_is_dropped(relayed):
    box, _ = relayed
    # Up to twice the file cap plus 64 KiB (a base64 body and its headers) is still read as one line ...
    longest = 1000 * 2 + 65536
    kept = relay_replies(box, [" " * (longest - 1), "\n"], pause=0.2)
    assert kept == [{"kind": "invalid", "error": "malformed request from the sandbox: Expecting value: line 1 "
                                                 f"column {longest} (char {longest - 1})"}]
    # ... one byte more and what was gathered is dropped unanswered; the next request is answered.
    dropped = relay_replies(box, [" " * longest, "\n", request_line("/after")], pause=0.3)
    assert [r.get("url") for r in dropped] == ["http://example.org/after"]
