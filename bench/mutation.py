"""Mutation score of one package: mutmut over a seeded random sample of its mutants.

    python bench/mutation.py routing [--sample 150] [--seed 14]

Configuration (which files are mutated, which tests run) is ``[tool.mutmut]`` in
pyproject.toml; mutmut runs only the tests that reach each mutated function. The full set
(about 5,000 mutants over the five packages) takes hours on two cores, so this runs a seeded
random sample per package (``--sample 0``: every mutant) and prints the score with a 95%
interval. Mutants in ``mutants/`` are generated on the first run; results accumulate in its
``.meta`` files, so a second run only re-tests mutants that have no result yet.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MUTMUT = [sys.executable, "-m", "mutmut"]
PACKAGES = ("routing", "resilience", "fusion", "multi", "panel", "debate")
#: mutmut's exit codes: 0 survived, 5/33 no test reaches it, None/2/34 not run; anything
#: else (1 a test failed, timeouts, crashes) counts as killed
SURVIVED = (0, 5, 33)
SKIPPED = (None, 2, 34)


def _results(package: str) -> dict[str, int | None]:
    folder = ROOT / "mutants" / "src" / "orchestra" / package
    results: dict[str, int | None] = {}
    for meta in sorted(folder.glob("*.py.meta")):
        results.update(json.loads(meta.read_text())["exit_code_by_key"])
    return results


def _generate() -> None:
    """``mutmut run`` with a filter that matches nothing: mutants are written, none run."""
    if not (ROOT / "mutants" / "src").exists():
        subprocess.run([*MUTMUT, "run", "orchestra.__none__"], cwd=ROOT, capture_output=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("package", choices=PACKAGES)
    parser.add_argument("--sample", type=int, default=150)
    parser.add_argument("--seed", type=int, default=14)
    args = parser.parse_args()
    _generate()
    names = sorted(_results(args.package))
    chosen = names
    if args.sample and args.sample < len(names):
        chosen = sorted(random.Random(args.seed).sample(names, args.sample))
    subprocess.run([*MUTMUT, "run", "--max-children", "2", *chosen], cwd=ROOT, check=False)
    results = _results(args.package)
    done = {n: results[n] for n in chosen if results.get(n) not in SKIPPED}
    survived = sorted(n for n, code in done.items() if code in SURVIVED)
    killed = len(done) - len(survived)
    score = killed / len(done) if done else 0.0
    margin = 1.96 * math.sqrt(score * (1 - score) / len(done)) if done else 0.0
    print(f"\n{args.package}: {len(names)} mutants, {len(done)} tested (seed {args.seed})")
    print(f"score {score:.1%} +/- {margin:.1%} ({killed} killed, {len(survived)} survived)")
    for name in survived:
        print(f"  survived: {name}" + (" (no test reaches it)" if results[name] else ""))


if __name__ == "__main__":
    main()
