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
    quick = ProcessSandbox(SandboxLimits(wall_seconds=0.5, cpu_seconds=1))
    assert "timed out after 0.5s" in fails(quick, "import time\ndef main():\n    time.sleep(60)\n")


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
