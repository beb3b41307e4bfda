"""What SnapStart saves: init before the snapshot vs the first invocation after a restore.

Each run is a fresh interpreter, as a new execution environment. Three figures (medians):

- ``on-demand``: import the handler + first invocation, the whole cold start without SnapStart;
- ``snapshot init``: import + :meth:`LambdaApp.prewarm` under ``snap-start`` (paid once,
  when Lambda publishes the version, not by a request);
- ``after restore``: the ``after_restore`` hook + the first invocation (settings, services,
  app), i.e. what a request still pays after Lambda's own restore time.

``--bundle DIR --python PY`` runs it inside a built bundle (``python -m infra.packaging``;
build it for your machine's platform) with that interpreter, e.g. the target 3.13, with and
without the shipped bytecode (``--no-bytecode`` hides the ``.pyc`` files).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EVENT = ROOT / "events" / "generate" / "http_v2_chat_completions.json"
SCRIPT = """
import json, os, sys, time, types
hooks = {{}}
stub = types.ModuleType("snapshot_restore_py")
stub.register_before_snapshot = lambda f: hooks.__setitem__("before", f)
stub.register_after_restore = lambda f: hooks.__setitem__("after", f)
sys.modules["snapshot_restore_py"] = stub
class Ctx:
    function_name = "bench"; memory_limit_in_mb = 1024; aws_request_id = "r"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:bench"
event = json.load(open({event!r}))
t0 = time.perf_counter()
import functions.generate.handler as handler
t1 = time.perf_counter()
if "after" in hooks:
    hooks["before"](); hooks["after"]()
r = handler.handler(event, Ctx())
t2 = time.perf_counter()
assert r["statusCode"] == 200, r
print(json.dumps({{"init": t1 - t0, "first": t2 - t1}}))
"""


def run(python: str, path: list[str], snapstart: bool, no_bytecode: bool) -> dict[str, float]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(path),
        "ORCHESTRA_SIMULATOR": "true",
        "ORCHESTRA_SIMULATOR_LATENCY_SCALE": "0",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_METRICS_DISABLED": "true",
        "POWERTOOLS_LOG_LEVEL": "WARNING",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_LAMBDA_INITIALIZATION_TYPE": "snap-start" if snapstart else "on-demand",
    }
    if no_bytecode:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        env["PYTHONPYCACHEPREFIX"] = "/nonexistent-orchestra-bench"  # ignore shipped .pyc
    code = SCRIPT.format(event=str(EVENT))
    out = subprocess.run(
        [python, "-c", code], check=True, capture_output=True, text=True, env=env, cwd="/"
    )
    return {k: v * 1000 for k, v in json.loads(out.stdout.strip().splitlines()[-1]).items()}


def median(runs: list[dict[str, float]], key: str) -> float:
    return statistics.median(r[key] for r in runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--bundle", type=Path, help="a built bundle directory")
    parser.add_argument("--python", default=sys.executable)
    parser.add_argument("--no-bytecode", action="store_true")
    parser.add_argument("--runtime-libs", type=Path, help="boto3/botocore, as the runtime has")
    args = parser.parse_args()
    path = [str(args.bundle)] if args.bundle else [str(ROOT), str(ROOT / "src")]
    path += [str(args.runtime_libs)] if args.runtime_libs else []
    if args.bundle and args.python == sys.executable:
        parser.error("--bundle needs --python of the bundle's version")
    plain = [run(args.python, path, False, args.no_bytecode) for _ in range(args.runs)]
    snap = [run(args.python, path, True, args.no_bytecode) for _ in range(args.runs)]
    where = f"bundle {args.bundle}" if args.bundle else "source tree"
    print(f"{where}, {args.python}, bytecode {'hidden' if args.no_bytecode else 'as found'}")
    cold = median(plain, "init") + median(plain, "first")
    print(f"  on-demand cold start (import + first invocation): {cold:7.1f} ms")
    print(f"  SnapStart snapshot init (import + prewarm):       {median(snap, 'init'):7.1f} ms")
    print(f"  SnapStart after restore (hook + first invocation): {median(snap, 'first'):7.1f} ms")


if __name__ == "__main__":
    main()
