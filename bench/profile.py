"""`make profile`: sample the API and worker processes with py-spy while the production path is under load,
then print where their CPU goes (own time and inclusive time per function, per role).

Usage: python -m bench.profile [--flow llm|template] [--words 50] [--mode blocking|streaming] [--clients 32]
                                [--seconds 20] [--top 25]
The raw collapsed stacks are kept under var/profile/ for flame graphs (e.g. speedscope)."""

from __future__ import annotations

import argparse
import collections
import shutil
import subprocess
import tempfile
from pathlib import Path

from bench import flows
from bench.measure import concurrent, median, pct, runs_for
from bench.run import ADMIN, llm_process, provision
from bench.stack import ROOT, running_stack, scratch_postgres


def record(pid: int, seconds: int, out: Path, subprocesses: bool = False) -> subprocess.Popen[bytes]:
    """Start py-spy on `pid` for `seconds`, writing collapsed stacks (one 'frame;frame;... count' per line)."""
    py_spy = shutil.which("py-spy") or str(Path(__file__).resolve().parent.parent / ".venv" / "bin" / "py-spy")
    # --gil: only the thread holding the GIL is sampled, i.e. Python's CPU time, not threads parked in I/O.
    command = [py_spy, "record", "--pid", str(pid), "--duration", str(seconds), "--rate", "50", "--format", "raw",
               "--gil", "--nonblocking", "--output", str(out)]
    return subprocess.Popen(command + (["--subprocesses"] if subprocesses else []),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def summarize(path: Path, top: int) -> list[str]:
    """Own-time and inclusive-time tables of the project's and its libraries' functions."""
    own: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack:
            continue
        count = int(count_text)
        frames = [_short(frame) for frame in stack.split(";")]
        # Threads parked in a lock or a socket are excluded by py-spy (idle); what remains is CPU time.
        total += count
        own[frames[-1]] += count
        for frame in set(frames):
            inclusive[frame] += count
    if not total:
        return ["(no samples)"]
    lines = [f"{total} samples", "", "own time:"]
    lines += [f"  {100 * n / total:5.1f}%  {name}" for name, n in own.most_common(top)]
    lines += ["", "inclusive time (functions of this project and of the libraries it calls):"]
    lines += [f"  {100 * n / total:5.1f}%  {name}" for name, n in inclusive.most_common(top * 3)
              if not name.startswith(("<module>", "run (threading", "_bootstrap", "worker (concurrent"))][:top * 2]
    return lines


def _short(frame: str) -> str:
    # py-spy frames read "function (path/to/file.py:line)"; keep the function and the file's last parts.
    name, _, where = frame.partition(" (")
    where = where.rstrip(")")
    file = where.rsplit(":", 1)[0]
    parts = file.split("/")
    tail = "/".join(parts[-2:]) if len(parts) > 1 else file
    return f"{name} ({tail})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--flow", choices=["llm", "template"], default="llm")
    parser.add_argument("--words", type=int, default=50, help="tokens of each LLM answer")
    parser.add_argument("--mode", choices=["blocking", "streaming"], default="blocking", help="the clients' mode")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    out_dir = ROOT / "var" / "profile"
    out_dir.mkdir(parents=True, exist_ok=True)
    env = {"ADMIN_TOKEN": ADMIN, "OPENAI_API_KEY": "sk-bench", "LOG_LEVEL": "WARNING", "WORKER_THREADS": "64",
           "GUNICORN_THREADS": "64"}
    with tempfile.TemporaryDirectory(prefix="trellis-profile-") as tmp, scratch_postgres() as backend, \
            llm_process(latency=0.2, words=args.words) as llm_url, \
            running_stack(Path(tmp) / "home", {**env, **backend, "OPENAI_BASE_URL": llm_url}, workers=1) as stack:
        headers = provision(stack.base_url, flows.llm_flow() if args.flow == "llm" else flows.template_flow())
        concurrent(stack.base_url, headers, {"q": "hi"}, 4, 5, "blocking")  # warm up
        outputs = {"api": out_dir / f"api-{args.flow}.txt", "worker": out_dir / f"worker-{args.flow}.txt"}
        spies = [record(stack.api.pid, args.seconds, outputs["api"], subprocesses=True),
                 record(stack.workers[0].pid, args.seconds, outputs["worker"])]
        # py-spy samples for `seconds` from its start; the load runs for that window, then the spies finish.
        sample = runs_for(stack.base_url, headers, {"q": "hi"}, args.clients, args.seconds, args.mode)
        for spy in spies:
            spy.wait()
    ms = [v * 1000 for v in sample.latencies]
    print(f"load: {args.clients} clients, {len(ms)} runs, {sample.rate:.1f} runs/s, "
          f"p50 {median(ms):.0f} ms, p95 {pct(ms, 0.95):.0f} ms, errors {sample.errors}")
    for role, path in outputs.items():
        print(f"\n=== {role} ===")
        print("\n".join(summarize(path, args.top)) if path.exists() else "(py-spy wrote nothing)")


if __name__ == "__main__":
    main()
