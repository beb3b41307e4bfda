"""Cold start of ``functions/generate/handler.py``: import time against its dependencies alone.

Each measurement is a fresh interpreter (``python -c``), as in a new Lambda execution
environment; the figure is the median of ``--runs``. Also times the first invocation
(building settings, services and the app) and a warm one, with the local simulator.

"Above the dependencies" is the difference of two medians taken at different moments, so a
machine whose speed drifts moves it a lot; the paired figure imports the dependencies first
in the same interpreter and times only what comes after them, run by run.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BASELINE = "import fastapi, mangum, pydantic, httpx, aws_lambda_powertools"
HANDLER = (
    f"import sys; sys.path.insert(0, {str(ROOT / 'functions' / 'generate')!r}); import handler"
)
FIRST_CALL = """
import json, os, sys, time
os.environ.update(ORCHESTRA_SIMULATOR="true", ORCHESTRA_SIMULATOR_LATENCY_SCALE="0",
                  POWERTOOLS_METRICS_DISABLED="true", POWERTOOLS_LOG_LEVEL="WARNING")
os.environ.update({tracing})
sys.path.insert(0, {handler_dir!r})
{preload}
t0 = time.perf_counter()
import handler
t1 = time.perf_counter()
event = json.load(open({event!r}))
class Ctx:
    function_name = "bench"; memory_limit_in_mb = 1024; aws_request_id = "r"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:bench"
r = handler.handler(event, Ctx())
t2 = time.perf_counter()
handler.handler(event, Ctx())
t3 = time.perf_counter()
assert r["statusCode"] == 200, r
print(json.dumps({{"import": t1 - t0, "first": t2 - t1, "warm": t3 - t2}}))
"""


def timed_import(code: str) -> float:
    script = f"import time; t = time.perf_counter(); {code}; print(time.perf_counter() - t)"
    out = subprocess.run([sys.executable, "-c", script], check=True, capture_output=True, text=True)
    return float(out.stdout.strip()) * 1000


#: tracing off (the default), or on as deployed: Powertools traces only inside Lambda
#: (``LAMBDA_TASK_ROOT``); no X-Ray daemon here, so a missing context is ignored
TRACING = {
    False: {"POWERTOOLS_TRACE_DISABLED": "true"},
    True: {"LAMBDA_TASK_ROOT": str(ROOT), "AWS_XRAY_CONTEXT_MISSING": "IGNORE_ERROR"},
}


def first_invocation(*, after_dependencies: bool = False, traced: bool = False) -> dict[str, float]:
    code = FIRST_CALL.format(
        handler_dir=str(ROOT / "functions" / "generate"),
        event=str(ROOT / "events" / "generate" / "http_v2_chat_completions.json"),
        preload=BASELINE if after_dependencies else "",
        tracing=repr(TRACING[traced]),
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    return {k: v * 1000 for k, v in json.loads(out.stdout.strip().splitlines()[-1]).items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument(
        "--traced", action="store_true", help="tracing on, as deployed (X-Ray SDK loaded)"
    )
    args = parser.parse_args()
    timed_import(HANDLER)  # warm the OS page cache and bytecode caches first
    baseline = [timed_import(BASELINE) for _ in range(args.runs)]
    handler = [timed_import(HANDLER) for _ in range(args.runs)]
    calls, paired = [], []
    for _ in range(args.runs):
        calls.append(first_invocation(traced=args.traced))
        paired.append(first_invocation(after_dependencies=True, traced=args.traced))
    b, h = statistics.median(baseline), statistics.median(handler)
    tracing = "tracing on, as deployed" if args.traced else "tracing off"
    print(f"fresh interpreter, median of {args.runs} runs, {tracing}")
    print(f"import fastapi, mangum, pydantic, httpx, powertools: {b:7.1f} ms")
    print(f"import functions/generate/handler.py:                {h:7.1f} ms")
    print(f"handler above its dependencies:                      {h - b:7.1f} ms (target <= 100)")
    first = statistics.median(c["first"] for c in calls)
    warm = statistics.median(c["warm"] for c in calls)
    print(f"first invocation (build services + app, simulator):  {first:7.1f} ms")
    total = statistics.median(c["import"] + c["first"] for c in calls)
    print(f"warm invocation (simulator, zero latency):           {warm:7.1f} ms")
    print(f"cold start to first response (import + first call):  {total:7.1f} ms")
    print(f"  ... above the dependencies' import alone:          {total - b:7.1f} ms")
    after = statistics.median(c["import"] + c["first"] for c in paired)
    print(f"  ... paired: after the dependencies, same process:  {after:7.1f} ms")


if __name__ == "__main__":
    main()
