"""Mid-stream continuation's pure parts: what was sent, whether to continue, the
continuation request in both modes, and where the continuation joins the partial answer."""

from __future__ import annotations

from typing import Any

import pytest

from orchestra.errors import ConnectionFailed, ProviderBadRequest
from orchestra.generate.continuation import (
    CONTINUE_INSTRUCTION,
    ContinuationPolicy,
    SentSoFar,
    Stitch,
    add_usage,
    can_continue,
    continuation_request,
    refusal,
    rest_of_chain,
    supports_prefill,
)
from orchestra.generate.overlap import MAX_HELD_CHUNKS, OVERLAP_WINDOW, Joiner, overlap
from orchestra.providers.anthropic_request import to_body as anthropic_body
from orchestra.providers.bedrock_convert import to_body as bedrock_body
from orchestra.schemas.chat import (
    ChatChunk,
    ChatRequest,
    ChunkChoice,
    Delta,
    NativeBody,
    ToolCallDelta,
    Usage,
)
from orchestra.schemas.options import OrchestraOptions

BROKE = ConnectionFailed("reset", provider="alpha", model="alpha/m1")


def request(**extra: Any) -> ChatRequest:
    body = {"model": "alpha/m1", "messages": [{"role": "user", "content": "hi"}], "stream": True}
    return ChatRequest.model_validate({**body, **extra})


def text(piece: str | None = None, **delta: Any) -> ChatChunk:
    return ChatChunk(choices=[ChunkChoice(delta=Delta(content=piece, **delta))])


def finish() -> ChatChunk:
    return ChatChunk(choices=[ChunkChoice(delta=Delta(), finish_reason="stop")])


def joined(chunks: list[ChatChunk]) -> str:
    return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)


# --- what was sent ---------------------------------------------------------------------


def test_the_tracker_keeps_text_reasoning_tool_calls_and_finish_apart() -> None:
    sent = SentSoFar()
    sent.see(text("", role="assistant"))
    sent.see(text(None, reasoning_content="hmm"))
    sent.see(text("Hello, "))
    sent.see(text("wor"))
    assert sent.partial() == "Hello, wor" and sent.reasoning == ["hmm"]
    assert not (sent.tool_calls or sent.finished or sent.other)
    call = ToolCallDelta(index=0, id="c", function={"name": "f", "arguments": "{"})
    sent.see(ChatChunk(choices=[ChunkChoice(delta=Delta(tool_calls=[call]))]))
    sent.see(text(None, reasoning_signature="sig"))
    sent.see(finish())
    assert sent.tool_calls and sent.other and sent.finished


def test_a_broken_call_costs_what_it_reported_else_an_estimate_of_what_it_sent() -> None:
    sent = SentSoFar()
    sent.see(text("x" * 36))
    # Given no usage reported: the prompt as estimated, 36 characters ~ 11 tokens
    assert sent.call_usage(50) == Usage.of(50, 11)
    sent.usage = Usage.of(7, 3)
    assert sent.call_usage(50) == Usage.of(7, 3)
    sent.new_call()
    assert sent.call_usage(9) == Usage.of(9, 0)
    assert sent.partial() == "x" * 36  # the answer so far is kept across calls


# --- whether to continue ---------------------------------------------------------------


def _why(
    policy: ContinuationPolicy | None = None,
    chat: ChatRequest | None = None,
    sent: SentSoFar | None = None,
    error: BaseException = BROKE,
    **context: Any,
) -> str | None:
    args = {"model_id": "alpha/m1", "continued": 0, "remaining_s": 10.0, **context}
    return refusal(
        policy or ContinuationPolicy(), chat or request(), sent or SentSoFar(), error, **args
    )


def test_a_broken_stream_continues_by_default() -> None:
    assert _why() is None
    assert can_continue(
        ContinuationPolicy(),
        request(),
        SentSoFar(),
        BROKE,
        model_id="a",
        continued=0,
        remaining_s=5.0,
    )


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({"policy": ContinuationPolicy(enabled=False)}, "disabled"),
        ({"chat": request(orchestra={"continue_streams": False})}, "request_opted_out"),
        ({"header": OrchestraOptions(continue_streams=False)}, "request_opted_out"),
        (
            {"policy": ContinuationPolicy(allowed=lambda model_id: model_id != "alpha/m1")},
            "deployment_opted_out",
        ),
        ({"continued": 2}, "too_many_continuations"),
        ({"chat": request(response_format={"type": "json_object"})}, "structured_output"),
        (
            {"error": ProviderBadRequest("limit", provider="alpha", model="alpha/m1")},
            "not_an_upstream_failure",
        ),
        ({"remaining_s": 0.5}, "deadline_nearly_spent"),
    ],
)
def test_each_reason_not_to_continue(kwargs: dict[str, Any], reason: str) -> None:
    assert _why(**kwargs) == reason


def test_a_request_may_only_turn_it_off() -> None:
    # Given the body asks for it and the header too, the gateway's "off" still wins
    on = OrchestraOptions(continue_streams=True)
    chat = request(orchestra={"continue_streams": True})
    assert _why(chat=chat, header=on) is None
    assert _why(ContinuationPolicy(enabled=False), chat, header=on) == "disabled"
    # And a header "true" does not undo a body "false"
    assert _why(chat=request(orchestra={"continue_streams": False}), header=on) is not None


def test_tool_calls_and_finished_answers_are_never_continued() -> None:
    sent = SentSoFar()
    call = ToolCallDelta(index=0, id="c", function={"name": "f", "arguments": '{"ci'})
    sent.see(ChatChunk(choices=[ChunkChoice(delta=Delta(tool_calls=[call]))]))
    assert _why(sent=sent) == "tool_call_streamed"
    done = SentSoFar()
    done.see(text("All done."))
    done.see(finish())
    assert _why(sent=done) == "answer_finished"


def test_an_adapter_bug_counts_as_the_upstream_failing() -> None:
    assert _why(error=ValueError("bad json")) is None


# --- the continuation request ------------------------------------------------------------


def test_prefill_mode_appends_the_partial_as_the_last_assistant_turn() -> None:
    original = request(temperature=0.3, tools=[{"type": "function", "function": {"name": "f"}}])
    asked = continuation_request(original, "Hello, ", prefill=True)
    assert [m.role for m in asked.messages] == ["user", "assistant"]
    assert asked.messages[-1].content == "Hello,"  # trailing whitespace left out
    assert asked.stream and asked.temperature == 0.3 and asked.tools == original.tools
    assert len(original.messages) == 1  # the client's request is untouched
    # And Anthropic and Bedrock Claude send it as the final turn: a real prefill
    assert anthropic_body(asked, "c1", stream=True)["messages"][-1] == {
        "role": "assistant",
        "content": [{"type": "text", "text": "Hello,"}],
    }
    converse = bedrock_body(asked, "anthropic.claude-sonnet-4-5")
    assert converse["messages"][-1] == {"role": "assistant", "content": [{"text": "Hello,"}]}


def test_instruction_mode_adds_the_partial_then_asks_to_continue() -> None:
    asked = continuation_request(request(), "Hello, wor", prefill=False)
    assert [(m.role, m.content) for m in asked.messages[1:]] == [
        ("assistant", "Hello, wor"),
        ("user", CONTINUE_INSTRUCTION),
    ]


def test_the_continuation_request_drops_what_must_not_follow() -> None:
    # Given a request with our options, a client's own Anthropic body and thinking on
    original = request(
        orchestra={"continue_streams": True},
        thinking={"type": "enabled", "budget_tokens": 2048},
        max_tokens=100,
    ).with_native(NativeBody(format="anthropic", body={"model": "x", "messages": []}))
    asked = continuation_request(original, "x" * 72, prefill=True)
    # Then the native body is not reused (it lacks the partial answer), our options go,
    # thinking is off (no prefill with thinking) and the output limit shrinks by ~21 tokens
    assert asked.native is None and asked.orchestra is None
    assert asked.thinking == {"type": "disabled"} and asked.reasoning_effort is None
    assert asked.max_tokens == 100 - 21
    assert "orchestra" not in anthropic_body(asked, "c1", stream=True)
    # And in instruction mode thinking may stay on
    assert continuation_request(original, "x", prefill=False).thinking == original.thinking


def test_an_empty_partial_is_a_plain_retry() -> None:
    for partial in ("", "  \n"):
        asked = continuation_request(request(), partial, prefill=True)
        assert [m.role for m in asked.messages] == ["user"]


def test_prefill_support_is_per_adapter_and_model() -> None:
    class Plain:
        pass

    class Claude:
        def supports_prefill(self, model: str) -> bool:
            return model.startswith("anthropic.claude")

    assert not supports_prefill(Plain(), "m")
    assert supports_prefill(Claude(), "anthropic.claude-3") and not supports_prefill(
        Claude(), "amazon.nova-pro"
    )


def test_the_adapters_say_whether_they_take_a_prefill() -> None:
    from orchestra.providers.anthropic import AnthropicProvider
    from orchestra.providers.base import ProviderConfig
    from orchestra.providers.bedrock import BedrockProvider
    from orchestra.providers.openai import OpenAIProvider
    from orchestra.transport.http import HttpClients

    http = HttpClients()
    anthropic = AnthropicProvider(ProviderConfig("a", "anthropic", api_key="k"), http)
    bedrock = BedrockProvider(ProviderConfig("b", "bedrock", region="us-east-1"), http)
    openai = OpenAIProvider(ProviderConfig("o", "openai", "https://api.openai.com/v1", "k"), http)
    assert supports_prefill(anthropic, "claude-sonnet-4-5")
    assert supports_prefill(bedrock, "us.anthropic.claude-sonnet-4-5-20250929-v1:0")
    assert not supports_prefill(bedrock, "amazon.nova-pro-v1:0")
    assert not supports_prefill(openai, "gpt-4o")


# --- where the continuation joins ---------------------------------------------------------


@pytest.mark.parametrize(
    ("partial", "start", "prefill", "dropped"),
    [
        # instruction mode: the unfinished last word, repeated
        ("Hello, wor", "world!", False, 3),
        # the whole partial, repeated (the model started over)
        ("Hello, wor", "Hello, world!", False, 10),
        # a long repeat at a word start
        ("It was a dark and stormy", "dark and stormy night", False, 15),
        # whole words repeated from a word start: dropped ("the the" is rarely meant)
        ("I read the", " the book", False, 4),
        ("I read the", "the book", False, 3),
        # the last word, finished by the continuation ("the" cut from "theory")
        ("I read the", "theory", False, 3),
        # a single repeated letter is not a word repeated
        ("Buy a", " a b c", False, 0),
        # an overlap that begins inside a word is a coincidence: kept
        ("Hello, world", "old friends", False, 0),
        # unless it is long enough and runs across a word boundary (a raw character repeat)
        ("meadow canyon onyx ", "n onyx quartz", False, 7),
        ("meadow canyon onyx", "yon onyx quartz", False, 8),
        # nothing repeated
        ("Hello, wor", "ld!", False, 0),
        # the whitespace a prefill left out, sent again by the model: dropped once
        ("Hello, ", " world", True, 1),
        ("One.\n\n", "\n\nTwo", True, 2),
        ("One.\n\n", "\nTwo", True, 1),
        ("Hello, ", "world", True, 0),
        # prefill mode never drops a repeat: the model continued exactly
        ("ha", "ha!", True, 0),
        # instruction mode restores whitespace too
        ("Hello, ", " world", False, 1),
    ],
)
def test_overlap(partial: str, start: str, prefill: bool, dropped: int) -> None:
    assert overlap(partial, start, prefill=prefill) == dropped


def test_the_joiner_drops_the_overlap_across_chunks_then_passes_chunks_on() -> None:
    joiner = Joiner("Hello, wor", prefill=False)
    # Given an empty first chunk (its role dropped: nothing to compare, nothing to send)
    assert joiner.feed(text("")) == []
    assert joiner.feed(text("w")) == []
    assert joiner.feed(text("or")) == []
    # When the finish arrives, the held start is released without the repeat
    out = joiner.feed(text("ld!")) + joiner.feed(finish())
    assert joined(out) == "ld!" and out[-1].choices[0].finish_reason == "stop"
    # And from then on chunks pass straight through
    late = text("wor")
    assert joiner.feed(late) == [late]


def test_the_joiner_holds_at_most_a_window() -> None:
    joiner = Joiner("abc", prefill=False)
    assert joiner.feed(text("x" * (OVERLAP_WINDOW - 1))) == []
    assert joined(joiner.feed(text("yy"))) == "x" * (OVERLAP_WINDOW - 1) + "yy"
    tiny = Joiner("abc", prefill=False)
    out = [c for _ in range(MAX_HELD_CHUNKS) for c in tiny.feed(text("z"))]
    assert joined(out) == "z" * MAX_HELD_CHUNKS


def test_reasoning_before_any_text_is_not_held() -> None:
    joiner = Joiner("abc", prefill=False)
    thought = text(None, reasoning_content="thinking")
    assert joiner.feed(thought) == [thought]


def test_the_stitch_sums_usage_and_notes_the_last_chunks() -> None:
    stitch = Stitch()
    record = {"from": "a", "to": "b", "after_chars": 3, "reason": "ConnectionFailed"}
    stitch.join(record, Joiner("abc", prefill=True), Usage.of(10, 2))
    out = stitch.pass_on(text("def", role="assistant")) + stitch.pass_on(finish())
    out += stitch.pass_on(ChatChunk(usage=Usage.of(20, 5)))
    assert out[0].choices[0].delta.role is None  # the client has had its role chunk
    assert out[-1].usage == Usage.of(30, 7)
    assert [c.orchestra for c in out] == [None, {"continued": [record]}, {"continued": [record]}]


def test_usage_adds_up_with_its_details() -> None:
    a = Usage.of(10, 4, cached=2, reasoning=1)
    b = Usage.of(5, 3, cache_creation=4)
    total = add_usage(a, b)
    assert total == Usage.of(15, 7, cached=2, cache_creation=4, reasoning=1)
    assert add_usage(None, b) is b and add_usage(a, None) is a and add_usage(None, None) is None


def test_the_continuation_looks_after_the_deployment_that_broke() -> None:
    from orchestra.catalog.models import ModelInfo
    from orchestra.routing.router import Candidate, RoutePlan

    def candidate(model_id: str) -> Candidate:
        info = ModelInfo(
            id=model_id, context_window=1000, input_price=0, output_price=0, quality=1000
        )
        return Candidate(info, 1.0, {}, group="g")

    chain = [candidate(i) for i in ("a/m", "b/m", "c/n")]
    plan = RoutePlan("balanced", None, 10, chain)
    assert [c.model.id for c in rest_of_chain(plan, "a/m")] == ["b/m", "c/n"]
    assert [c.model.id for c in rest_of_chain(plan, "c/n")] == []
    # A deployment reached as a last resort (not in the chain): everything else
    assert [c.model.id for c in rest_of_chain(plan, "z/m")] == ["a/m", "b/m", "c/n"]
