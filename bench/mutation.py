"""`make mutate`: mutation testing of the modules where a mistake costs most, scored per module.

mutmut (configured in pyproject's `[tool.mutmut]`) copies the tree to `mutants/`, mutates the critical modules
and, for every mutant, runs only the unit tests that reach the mutated function. This driver starts from a clean
copy, runs it, reads the verdicts mutmut leaves beside each mutated file, drops the mutants reviewed as
equivalent (bench/mutation_equivalent.py, each with its reason) and writes the score per module to
`docs/mutation.md`.
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

from bench.mutation_equivalent import EQUIVALENT

ROOT = Path(__file__).resolve().parent.parent
REPORT = ROOT / "docs" / "mutation.md"
PARTIAL_REPORT = ROOT / "var" / "results" / "mutation.md"
TARGET = 0.85

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
        shown = "not run" if value is None else f"{value:.1%}"
        lines.append(f"| `{module}` | {total} | {counts['not run']} | {counts['killed'] + counts['timeout']} | "
                     f"{counts['survived']} | {counts['no tests']} | {counts['equivalent']} | {shown} |")
    survivors = sorted(k.split(":", 1)[1] for c in scores.values() for k in c if k.startswith("survivor:"))
    lines += ["", "## Surviving mutants", "",
              "Each is either a gap to close with a test or, once reviewed, an entry in `EQUIVALENT` in "
              "`bench/mutation_equivalent.py` with its reason (`.venv/bin/mutmut show NAME` prints the change).", ""]
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
