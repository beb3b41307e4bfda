"""Gateway overhead per inbound format: the same answer asked for in each client's format.

One fake OpenAI-compatible upstream (its own process, answering a recorded completion) and
``orchestra serve`` in front of it; wrk asks for the same short answer through
``/v1/chat/completions``, ``/v1/messages`` (Anthropic), ``/v1/responses`` (OpenAI
Responses, stored and ``store: false``) and ``/v1beta/models/...:generateContent`` (Gemini),
so every format pays its own parsing and rendering and nothing else differs. Each figure is
compared with chat completions' in the same round (target: within 0.2 ms at p50).

Usage: ``python bench/formats.py [--seconds 5] [--rounds 5]`` (interleaved rounds, median
round per figure: the machine's noise moves single runs by more than the formats differ).
Needs ``wrk``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import timeit
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import CHAT
from overhead import WrkResult, median_run, run_wrk, start_stack

MODEL = str(CHAT["model"])
PROMPT = "Say hello."
#: (path, body, headers) per format: the same question, each in its client's shape
FORMATS: dict[str, tuple[str, dict[str, object], dict[str, str]]] = {
    "chat completions": ("/v1/chat/completions", CHAT, {}),
    "anthropic messages": (
        "/v1/messages",
        {"model": MODEL, "max_tokens": 16, "messages": [{"role": "user", "content": PROMPT}]},
        {"anthropic-version": "2023-06-01"},
    ),
    "openai responses": (
        "/v1/responses",
        {"model": MODEL, "input": PROMPT, "max_output_tokens": 16},
        {},
    ),
    "openai responses, store=false": (
        "/v1/responses",
        {"model": MODEL, "input": PROMPT, "max_output_tokens": 16, "store": False},
        {},
    ),
    "gemini generateContent": (
        f"/v1beta/models/{MODEL}:generateContent",
        {
            "contents": [{"role": "user", "parts": [{"text": PROMPT}]}],
            "generationConfig": {"maxOutputTokens": 16},
        },
        {},
    ),
}


def format_work(repeat: int = 2000) -> dict[str, float]:
    """Microseconds of CPU each format adds by itself: its body parsed into the internal
    request, and the recorded answer rendered back as bytes (what differs between the
    routes; everything else is the same pipeline)."""
    import pydantic_core

    from common import BASIC_BODY
    from orchestra.api.body import json_object
    from orchestra.api.routes.chat import parse_chat_request
    from orchestra.formats import anthropic, anthropic_answer, gemini, responses
    from orchestra.formats.responses_output import rendered
    from orchestra.providers.openai import parse_response

    answer = parse_response(json.loads(BASIC_BODY.read_bytes()), MODEL)
    raw = {name: json.dumps(body).encode() for name, (_, body, _) in FORMATS.items()}

    def chat() -> bytes:
        parse_chat_request(raw["chat completions"])
        return answer.model_dump_json(exclude_none=True).encode()

    def messages() -> bytes:
        anthropic.parse_request(raw["anthropic messages"])
        return pydantic_core.to_json(anthropic_answer.render_message(answer, MODEL))

    def responses_api() -> bytes:
        inbound = responses.parse_responses_request(raw["openai responses"])
        inbound.chat([])
        body = rendered(inbound.request, answer, model=MODEL, response_id="resp_1")
        return pydantic_core.to_json(body)

    def generate_content() -> bytes:
        gemini.to_chat_request(json_object(raw["gemini generateContent"]), MODEL, stream=False)
        return pydantic_core.to_json(gemini.render_response(answer, MODEL, thoughts=False))

    work = {
        "chat completions": chat,
        "anthropic messages": messages,
        "openai responses": responses_api,
        "gemini generateContent": generate_content,
    }
    return {
        name: min(timeit.repeat(run, number=repeat, repeat=5)) / repeat * 1e6
        for name, run in work.items()
    }


def lua_script(body: dict[str, object], headers: dict[str, str], path: Path) -> Path:
    lines = ['wrk.method = "POST"', f"wrk.body = {json.dumps(json.dumps(body))}"]
    for name, value in {"Content-Type": "application/json", **headers}.items():
        lines.append(f"wrk.headers[{json.dumps(name)}] = {json.dumps(value)}")
    path.write_text("\n".join(lines) + "\n")
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=5, help="per run, per round")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed (apt-get install wrk)")
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        stack, processes = start_stack(directory)
        try:
            report(stack.gateway, directory, args.seconds, args.rounds)
        finally:
            for process in processes:
                process.terminate()
                process.wait(5)


def report(gateway: str, directory: Path, seconds: int, rounds_wanted: int) -> None:
    scripts = {
        name: (path, lua_script(body, headers, directory / f"f{i}.lua"))
        for i, (name, (path, body, headers)) in enumerate(FORMATS.items())
    }
    for path, script in scripts.values():  # warm up, and fail loudly on a broken format
        warm = run_wrk(gateway + path, script, 4, 2)
        if warm.errors:
            sys.exit(f"{path}: {warm.errors} non-2xx answers while warming up")
    rounds: dict[str, dict[int, list[WrkResult]]] = {n: {1: [], 32: []} for n in scripts}
    for _ in range(rounds_wanted):
        for connections in (1, 32):
            for name, (path, script) in scripts.items():
                rounds[name][connections].append(
                    run_wrk(gateway + path, script, connections, seconds)
                )
    print(
        f"wrk, {rounds_wanted} interleaved rounds of {seconds}s per run (median round), "
        "recorded OpenAI completion as the upstream answer"
    )
    print(f"{'format':32s} {'p50 ms':>8s} {'p99 ms':>8s} {'vs chat p50':>12s} {'req/s c=32':>11s}")
    chat1 = median_run(rounds["chat completions"][1])
    for name, by_c in rounds.items():
        one, many = median_run(by_c[1]), median_run(by_c[32])
        delta = one.p50_ms - chat1.p50_ms
        print(f"{name:32s} {one.p50_ms:8.3f} {one.p99_ms:8.3f} {delta:+12.3f} {many.rps:11.0f}")
    print("target (issue 16): every format within 0.2 ms of chat completions at p50")
    work = format_work()
    print("\nin-process CPU of the format's own work (parse the body, render the answer):")
    for name, us in work.items():
        print(f"{name:32s} {us:7.1f} us  ({us - work['chat completions']:+.1f} us vs chat)")


if __name__ == "__main__":
    main()
