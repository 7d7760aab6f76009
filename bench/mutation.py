"""`make mutate`: mutation testing of the modules where a mistake costs most, scored per module.

mutmut (configured in pyproject's `[tool.mutmut]`) copies the tree to `mutants/`, mutates the critical modules
and, for every mutant, runs only the unit tests that reach the mutated function. This driver starts from a clean
copy, runs it, reads the verdicts mutmut leaves beside each mutated file, drops the mutants reviewed as
equivalent (`EQUIVALENT`, each with its reason) and writes the score per module to `docs/mutation.md`.
Exit status 1 when a module scores under `TARGET`.

    python -m bench.mutation                      # every critical module; writes docs/mutation.md
    python -m bench.mutation app/engine/graph.py  # only these modules; writes var/results/mutation.md
    python -m bench.mutation --report-only [...]  # score what mutants/ already holds

`MUTMUT_CHILDREN` caps the parallel mutants (mutmut's default is one per core).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REPORT = ROOT / "docs" / "mutation.md"
PARTIAL_REPORT = ROOT / "var" / "results" / "mutation.md"
TARGET = 0.85

# Reviewed survivors that no test can kill because the program behaves the same; name -> reason.
# Grouped by module, under its comment.
EQUIVALENT: dict[str, str] = {
    # app/services/leases.py

    # worker/leases.py

    # app/services/execution.py

    # app/services/admission.py
    "app.services.admission.x_request_hash__mutmut_4":
        "ensure_ascii=None is falsy, the same as False: the same JSON, the same hash",
    "app.services.admission.xǁAdmissionǁcheck_capacity__mutmut_21":
        "SQLAlchemy renders func.count(None) as count(*): the same number as count(id), which is never NULL",

    # app/providers/egress.py
    "app.providers.egress.x__system_resolve__mutmut_5":
        "getaddrinfo answers the same addresses without a port; only the address of each answer is kept",
    "app.providers.egress.x_is_file_response__mutmut_1":
        "the default disposition 'XXXX' holds no 'attachment' either, like ''",
    "app.providers.egress.xǁEgressClientǁ__init____mutmut_10":
        ("a transport is always passed, and httpx reads no proxy variables then (allow_env_proxies = "
         "trust_env and transport is None); trust_env has no other effect on the client"),
    "app.providers.egress.xǁEgressClientǁ__init____mutmut_13":
        ("a transport is always passed, and httpx reads no proxy variables then (allow_env_proxies = "
         "trust_env and transport is None); trust_env has no other effect on the client"),
    "app.providers.egress.xǁEgressClientǁ__init____mutmut_17":
        ("a transport is always passed, and httpx reads no proxy variables then (allow_env_proxies = "
         "trust_env and transport is None); trust_env has no other effect on the client"),
    "app.providers.egress.xǁEgressClientǁ_insecure__mutmut_15":
        ("a transport is always passed, and httpx reads no proxy variables then (allow_env_proxies = "
         "trust_env and transport is None); trust_env has no other effect on the client"),
    "app.providers.egress.xǁEgressClientǁ_insecure__mutmut_4":
        ("a transport is always passed, and httpx reads no proxy variables then (allow_env_proxies = "
         "trust_env and transport is None); trust_env has no other effect on the client"),
    "app.providers.egress.xǁEgressClientǁ_insecure__mutmut_7":
        ("a transport is always passed, and httpx reads no proxy variables then (allow_env_proxies = "
         "trust_env and transport is None); trust_env has no other effect on the client"),
    "app.providers.egress.xǁEgressClientǁ_precheck__mutmut_18":
        "rsplit('@') with no limit: [-1] is the same last part",
    "app.providers.egress.xǁEgressClientǁ_precheck__mutmut_23":
        "split('?') with no limit: [0] is the same first part",
    "app.providers.egress.xǁEgressClientǁ_precheck__mutmut_28":
        "split('/') with no limit: [0] is the same first part",
    "app.providers.egress.xǁEgressClientǁ_precheck__mutmut_31":
        "split('/', 2): [0] is the same first part",
    "app.providers.egress.xǁEgressClientǁ_precheck__mutmut_34":
        "split('?', 2): [0] is the same first part",
    "app.providers.egress.xǁEgressClientǁ_precheck__mutmut_37":
        "rsplit('@', 2): [-1] is the same last part",
    "app.providers.egress.xǁEgressClientǁ_read__mutmut_6":
        "monotonic() equal to the deadline to the last bit is not observable: the next chunk's check is the same",
    "app.providers.egress.xǁEgressClientǁrequest__mutmut_55":
        "httpx upper-cases a request's method itself: 'post' is sent as POST",
    "app.providers.egress.xǁEgressClientǁrequest__mutmut_79":
        "a missing Content-Disposition read as 'XXXX' holds no 'attachment' either",
    "app.providers.egress.xǁEgressPolicyǁadmits__mutmut_4":
        "the name is lower-cased first, so stripping 'X' as well as '.' strips nothing more",
    "app.providers.egress.xǁEgressPolicyǁparse__mutmut_10":
        "strict=None is falsy, the same as strict=False",
    "app.providers.egress.xǁGuardedBackendǁ__init____mutmut_11":
        "the lookup threads' names are not visible to any caller",
    "app.providers.egress.xǁGuardedBackendǁ__init____mutmut_13":
        "the lookup threads' names are not visible to any caller",
    "app.providers.egress.xǁGuardedBackendǁ__init____mutmut_14":
        "the lookup threads' names are not visible to any caller",
    "app.providers.egress.xǁGuardedBackendǁ__init____mutmut_9":
        "the lookup threads' names are not visible to any caller",
    "app.providers.egress.xǁGuardedBackendǁconnect_tcp__mutmut_12":
        "the pool never passes a local address (GuardedTransport sets none): it is None either way",
    "app.providers.egress.xǁGuardedBackendǁconnect_tcp__mutmut_13":
        "the pool never passes socket options (GuardedTransport sets none): they are None either way",
    "app.providers.egress.xǁGuardedBackendǁconnect_tcp__mutmut_17":
        "drops local_address, which the pool always passes as None (the default)",
    "app.providers.egress.xǁGuardedBackendǁconnect_tcp__mutmut_18":
        "drops socket_options, which the pool always passes as None (the default)",
    "app.providers.egress.xǁGuardedBackendǁconnect_tcp__mutmut_8":
        "vet never returns an empty list (it raises), so `last` is always reassigned before it is read",
    "app.providers.egress.xǁGuardedTransportǁ__init____mutmut_3":
        "trust_env=None is falsy, the same as False",

    # app/engine/templating.py

    # app/providers/sandbox.py
    "app.providers.sandbox.x__parse__mutmut_3":
        "for empty output the split's last part is b'' too: the same as the else branch",
    "app.providers.sandbox.xǁProcessSandboxǁ_collect__mutmut_61":
        ("break instead of continue after serving the relay: the selector is level-triggered, the skipped "
         "ready pipes come back in the next select"),
    "app.providers.sandbox.xǁProcessSandboxǁ_collect__mutmut_68":
        "on the output-cap path the output is over output_bytes, so the message is the output one whatever the status",
    "app.providers.sandbox.xǁProcessSandboxǁ_collect__mutmut_69":
        "on the output-cap path the output is over output_bytes, so the message is the output one whatever the status",
    "app.providers.sandbox.xǁProcessSandboxǁ_collect__mutmut_82":
        "the status is not used when the run timed out (the message is the wall-clock one)",
    "app.providers.sandbox.xǁProcessSandboxǁexecute__mutmut_55":
        ("the socket pair is a local of execute: CPython closes it when the call returns; only a "
         "ResourceWarning differs"),
    "app.providers.sandbox.xǁProcessSandboxǁexecute__mutmut_71":
        ("the socket pair is a local of execute: CPython closes it when the call returns; only a "
         "ResourceWarning differs"),
    "app.providers.sandbox.x__kill_group__mutmut_10":
        "CPython closes the pipes when the Popen is dropped at the end of _spawn: only a ResourceWarning differs",
    "app.providers.sandbox.x__kill_group__mutmut_2":
        ("killpg is refused (EPERM) only for another user's processes; the group runs as the worker's user "
         "or, from a root worker, as nobody: both signalable"),
    "app.providers.sandbox.x__kill_group__mutmut_4":
        ("killpg is refused (EPERM) only for another user's processes; the group runs as the worker's user "
         "or, from a root worker, as nobody: both signalable"),
    "app.providers.sandbox.x__kill_group__mutmut_9":
        "the three streams are always pipes (never None), so `stream or ...` is `not closed` as before",
    "app.providers.sandbox.x__parse__mutmut_8":
        "empty output read as b'XXXX' is not JSON either: None as before",
    "app.providers.sandbox.xǁProcessSandboxǁ_collect__mutmut_1":
        "the three streams are always pipes, so the assertion holds either way",
    "app.providers.sandbox.xǁProcessSandboxǁ_collect__mutmut_2":
        "the three streams are always pipes, so the assertion holds either way",
    "app.providers.sandbox.xǁProcessSandboxǁ_collect__mutmut_26":
        "the relay's selector data is never read: _serve is handed the local `pending` buffer",
    "app.providers.sandbox.xǁProcessSandboxǁ_collect__mutmut_29":
        "the relay's selector data is never read: _serve is handed the local `pending` buffer",
    "app.providers.sandbox.xǁProcessSandboxǁ_collect__mutmut_34":
        "a remaining time of exactly 0.0 is not observable: select(0) returns at once and the next turn times out",
    "app.providers.sandbox.xǁProcessSandboxǁ_collect__mutmut_38":
        "the status is not used when the run timed out (the message is the wall-clock one)",
    "app.providers.sandbox.xǁProcessSandboxǁ_collect__mutmut_46":
        "reading 65537 instead of 65536 bytes a turn changes only the chunking; the cap is checked after each",
    "app.providers.sandbox.xǁProcessSandboxǁ_collect__mutmut_49":
        ("break instead of continue after an EOF: the selector is level-triggered, the other ready pipe is "
         "returned by the next select"),
    "app.providers.sandbox.xǁProcessSandboxǁ_serve__mutmut_11":
        "monotonic() equal to the deadline to the last bit is not observable",
    "app.providers.sandbox.xǁProcessSandboxǁ_spawn__mutmut_18":
        "close_fds=True is Popen's default: dropping it changes nothing",
    "app.providers.sandbox.xǁProcessSandboxǁexecute__mutmut_51":
        "ensure_ascii=None is falsy, the same as False",

    # app/api/auth.py
    "app.api.auth.x_client_ip__mutmut_10":
        "request headers are looked up case-insensitively: 'X-FORWARDED-FOR' is the same header",
    "app.api.auth.x_client_ip__mutmut_22":
        "the placeholder for a missing peer address is only a counter key: any constant blocks the same clients",
    "app.api.auth.x_client_ip__mutmut_23":
        "the placeholder for a missing peer address is only a counter key: any constant blocks the same clients",
    "app.api.auth.x_client_ip__mutmut_9":
        "request headers are looked up case-insensitively: 'x-forwarded-for' is the same header",

    # app/engine/conditions.py

    # app/engine/nodes/if_else.py

    # app/engine/graph.py

    # infra/policy/rules.py

    # app/tools/registry.py

    # app/engine/nodes/agent.py
}

# mutmut's exit codes per mutant (its stats module); None: not run yet.
STATUS: dict[int | None, str] = {
    None: "not run", 1: "killed", 3: "killed", 37: "killed", 0: "survived", 33: "no tests", 5: "no tests",
    34: "skipped", 36: "timeout", -24: "timeout", 24: "timeout", 152: "timeout", 255: "timeout"}


def _config() -> dict[str, list[str]]:
    import tomllib

    return tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mutmut"]


def mutant_glob(module: str) -> str:
    """mutmut names a mutant after its module's dotted path: `app/engine/graph.py` -> `app.engine.graph.*`."""
    return module.removesuffix(".py").replace("/", ".") + ".*"


def run(modules: list[str]) -> None:
    """Mutate from a clean copy; with `modules`, only their mutants are run."""
    shutil.rmtree(ROOT / "mutants", ignore_errors=True)
    # mutmut draws a spinner on stdout; its log goes to var/mutmut.log, the verdicts are read from its files.
    log = ROOT / "var" / "mutmut.log"
    log.parent.mkdir(exist_ok=True)
    command = [sys.executable, "-m", "mutmut", "run", *(mutant_glob(m) for m in modules)]
    if os.environ.get("MUTMUT_CHILDREN"):
        command += ["--max-children", os.environ["MUTMUT_CHILDREN"]]
    with log.open("w") as out:
        subprocess.run(command, cwd=ROOT, check=False, stdout=out, stderr=out)


def verdicts(modules: list[str]) -> dict[str, Counter[str]]:
    """Per module: how many mutants were killed, survived, timed out (counted as killed: the mutant hung
    the tests), had no test, or were reviewed as equivalent. Survivor names are kept under `survivors`."""
    scores: dict[str, Counter[str]] = {}
    for module in modules:
        meta = ROOT / "mutants" / (module + ".meta")
        counts: Counter[str] = Counter()
        if meta.exists():
            for key, code in json.loads(meta.read_text())["exit_code_by_key"].items():
                status = "equivalent" if key in EQUIVALENT else STATUS.get(code, "suspicious")
                counts[status] += 1
                if status in ("survived", "no tests"):
                    counts["survivor:" + key] += 1
        scores[module] = counts
    return scores


def score(counts: Counter[str]) -> float | None:
    """Killed share of the non-equivalent mutants; None when mutmut judged none (the run failed)."""
    judged = counts["killed"] + counts["timeout"] + counts["survived"] + counts["no tests"] + counts["suspicious"]
    return (counts["killed"] + counts["timeout"]) / judged if judged else None


def write(scores: dict[str, Counter[str]], report: Path) -> bool:
    today = dt.date.today().isoformat()
    lines = [f"# Mutation score per critical module ({today})", "",
             "Produced by `make mutate` (mutmut; each mutant against the unit tests that reach it; integration "
             f"tests are not used). Target: {TARGET:.0%} of non-equivalent mutants killed in each module.", "",
             "| module | mutants | not run | killed | survived | no test | equivalent | score |",
             "|---|---|---|---|---|---|---|---|"]
    ok = True
    for module, counts in scores.items():
        total = sum(v for k, v in counts.items() if not k.startswith("survivor:"))
        value = score(counts)
        ok = ok and value is not None and value >= TARGET
        shown = "not run" if value is None else f"{value:.0%}"
        lines.append(f"| `{module}` | {total} | {counts['not run']} | {counts['killed'] + counts['timeout']} | "
                     f"{counts['survived']} | {counts['no tests']} | {counts['equivalent']} | {shown} |")
    survivors = sorted(k.split(":", 1)[1] for c in scores.values() for k in c if k.startswith("survivor:"))
    lines += ["", "## Surviving mutants", "",
              "Each is either a gap to close with a test or, once reviewed, an entry in `EQUIVALENT` in "
              "`bench/mutation.py` with its reason (`.venv/bin/mutmut show NAME` prints the change).", ""]
    lines += [f"- `{name}`" for name in survivors] or ["None."]
    if EQUIVALENT:
        lines += ["", "## Reviewed as equivalent", ""] + [f"- `{k}`: {v}" for k, v in sorted(EQUIVALENT.items())]
    report.parent.mkdir(parents=True, exist_ok=True)
    report.write_text("\n".join(lines) + "\n")
    return ok


def main() -> None:
    args = [a for a in sys.argv[1:] if a != "--report-only"]
    critical = _config()["only_mutate"]
    unknown = sorted(set(args) - set(critical))
    if unknown:
        sys.exit(f"not a critical module of [tool.mutmut]: {', '.join(unknown)}")
    if "--report-only" not in sys.argv:
        run(args)
    report = PARTIAL_REPORT if args else REPORT
    ok = write(verdicts(args or critical), report)
    print(report.read_text())
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
