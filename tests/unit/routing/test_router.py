"""Routing: profiles order candidates sensibly, filters say why, explicit ids are honoured."""

from __future__ import annotations

import json

import pytest

from orchestra.catalog.models import Catalog, ModelInfo
from orchestra.errors import NoCandidates, UnknownModel
from orchestra.routing.complexity import classify
from orchestra.routing.router import Router
from orchestra.schemas.chat import ChatRequest

MODELS = [
    # id, window, input price, output price, quality, ttft ms, tokens/s, capabilities
    ("p/frontier", 200_000, 1.5e-5, 7.5e-5, 1450, 2500, 40, {"tools", "vision", "streaming"}),
    ("p/mid", 128_000, 2.5e-6, 1.0e-5, 1350, 900, 90, {"tools", "streaming"}),
    ("p/fast", 32_000, 1.0e-7, 4.0e-7, 1150, 150, 400, {"streaming"}),
    ("p/cheap", 16_000, 5.0e-8, 1.0e-7, 1100, 800, 60, {"streaming"}),
    ("p/long", 2_000_000, 1.25e-6, 5.0e-6, 1300, 1500, 80, {"tools", "streaming"}),
    ("other/unconfigured", 200_000, 1e-6, 1e-6, 1500, 100, 500, {"tools", "streaming"}),
]


def _catalog() -> Catalog:
    return Catalog(
        ModelInfo(
            id=i,
            context_window=w,
            input_price=ip,
            output_price=op,
            quality=q,
            latency_ms=ms,
            tokens_per_s=tps,
            capabilities=frozenset(caps),
        )
        for i, w, ip, op, q, ms, tps, caps in MODELS
    )


def _plan(model: str = "auto", text: str = "What is the capital of France?", **extra):
    request = ChatRequest.model_validate(
        {"model": model, "messages": [{"role": "user", "content": text}], **extra}
    )
    return Router({"p"}, max_candidates=3).plan(request, _catalog())


def _ids(plan) -> list[str]:
    return [c.model.id for c in plan.candidates]


def test_profiles_put_the_expected_model_first():
    assert _ids(_plan("auto:quality"))[0] == "p/frontier"
    assert _ids(_plan("auto:speed"))[0] == "p/fast"
    assert _ids(_plan("auto:budget"))[0] == "p/cheap"
    assert _ids(_plan("auto:long_context"))[0] == "p/long"


def test_unconfigured_providers_are_never_candidates():
    for profile in ("quality", "speed", "balanced"):
        assert "other/unconfigured" not in _ids(_plan(f"auto:{profile}"))


def test_context_window_filter_reports_the_reason():
    long_prompt = "word " * 60_000  # ~60k+ tokens: too much for 32k and 16k windows
    plan = _plan("auto:budget", long_prompt)
    assert "p/cheap" not in _ids(plan) and "p/fast" not in _ids(plan)
    reasons = dict(plan.rejected)
    assert reasons["p/cheap"].startswith("context_window(")


def test_capability_filters():
    tools = [{"type": "function", "function": {"name": "f", "parameters": {}}}]
    plan = _plan("auto:speed", tools=tools)
    assert set(_ids(plan)) <= {"p/frontier", "p/mid", "p/long"}
    assert dict(plan.rejected)["p/fast"] == "no_tool_support"
    image = [{"type": "image_url", "image_url": {"url": "https://x.test/a.png"}}]
    vision = Router({"p"}).plan(
        ChatRequest(model="auto", messages=[{"role": "user", "content": image}]), _catalog()
    )
    assert _ids(vision) == ["p/frontier"]


def test_hard_prompts_shift_toward_quality():
    hard = (
        "Prove rigorously that there are infinitely many primes, then derive the asymptotic "
        "density, write a Python function that checks it for n up to 10**7 with a sieve, "
        "and analyse the time and memory complexity step by step."
    )
    assert (
        classify(ChatRequest(model="auto", messages=[{"role": "user", "content": hard}]))
        == "complex"
    )
    simple = _plan("auto:balanced")
    complex_ = _plan("auto:balanced", hard)
    assert complex_.complexity == "complex" and simple.complexity == "simple"
    rank = lambda plan, m: _ids(plan).index(m) if m in _ids(plan) else 99  # noqa: E731
    assert rank(complex_, "p/frontier") <= rank(simple, "p/frontier")


def test_explicit_model_with_fallbacks_keeps_the_given_order():
    plan = _plan("p/fast", fallbacks=["p/mid", "p/frontier"])
    assert _ids(plan) == ["p/fast", "p/mid", "p/frontier"]


def test_unknown_model_and_unknown_fallback_are_404s_naming_the_field():
    with pytest.raises(UnknownModel):
        _plan("p/nope")
    with pytest.raises(UnknownModel) as caught:
        _plan("p/fast", fallbacks=["p/mid", "p/ghost"])
    assert caught.value.param == "fallbacks[1]"


def test_nothing_fits_is_a_clear_error_with_reasons():
    with pytest.raises(NoCandidates) as caught:
        _plan("p/cheap", "word " * 60_000)
    assert "context_window" in caught.value.message


def test_route_header_explains_the_choice():
    plan = _plan("auto:speed", tools=[{"type": "function", "function": {"name": "f"}}])
    header = plan.explain(plan.candidates[0].model.id)
    assert header["profile"] == "speed"
    assert {"model": "p/fast", "reason": "no_tool_support"} in header["rejected"]
    assert "score" in json.dumps(header)


def test_observed_latency_is_compared_on_the_priors_scale():
    from orchestra.routing.scorer import TYPICAL_OUTPUT_TOKENS, comparable_latency_ms

    model = ModelInfo(
        id="p/m",
        context_window=8000,
        input_price=0,
        output_price=0,
        quality=1200,
        latency_ms=120,
        tokens_per_s=80,
    )
    prior = model.latency_ms + TYPICAL_OUTPUT_TOKENS / model.tokens_per_s * 1000
    # a 6-token answer in 195 ms is about the prior, not twenty times faster than it
    seen = comparable_latency_ms(model, 195.0, 6)
    assert 0.9 * prior < seen < 1.1 * prior
    # a slow upstream stays slow after projection
    assert comparable_latency_ms(model, 3000.0, 6) > 1.5 * prior


def _window_model(window: int, max_output: int = 4096) -> ModelInfo:
    return ModelInfo(
        id="p/w",
        context_window=window,
        max_output_tokens=max_output,
        input_price=0,
        output_price=0,
        quality=1200,
    )


def test_context_window_filter_reserves_room_for_max_tokens():
    from orchestra.routing.router import unfit_reason
    from orchestra.tokens import estimate_prompt_tokens

    # Given a prompt that fits a 4k window on its own
    request = ChatRequest.model_validate(
        {"model": "p/w", "messages": [{"role": "user", "content": "hello " * 50}]}
    )
    prompt = estimate_prompt_tokens(request)
    model = _window_model(4000)
    assert prompt < 4000
    # When the answer may take the rest of the window exactly, the model fits
    exact = request.model_copy(update={"max_tokens": 4000 - prompt})
    assert unfit_reason(model, exact, prompt) is None
    # But one token more than the window holds is refused, naming prompt + reserve
    over = request.model_copy(update={"max_tokens": 4000 - prompt + 1})
    assert unfit_reason(model, over, prompt) == f"context_window({prompt}+{4001 - prompt}>4000)"


def test_without_max_tokens_the_default_reserve_counts_against_the_window():
    from orchestra.routing.router import DEFAULT_OUTPUT_RESERVE, unfit_reason

    request = ChatRequest.model_validate(
        {"model": "p/w", "messages": [{"role": "user", "content": "hi"}]}
    )
    # the default reserve, capped by the model's own output limit, must fit beside the prompt
    assert unfit_reason(_window_model(100 + DEFAULT_OUTPUT_RESERVE), request, 100) is None
    assert unfit_reason(_window_model(99 + DEFAULT_OUTPUT_RESERVE), request, 100) is not None
    assert unfit_reason(_window_model(300, max_output=200), request, 100) is None
    assert unfit_reason(_window_model(299, max_output=200), request, 100) is not None


def _many(n: int) -> Catalog:
    return Catalog(
        ModelInfo(
            id=f"p/m{i}",
            context_window=32_000,
            input_price=1e-6,
            output_price=1e-6,
            quality=1000 + 10 * i,
        )
        for i in range(n)
    )


def test_the_chain_is_as_long_as_asked_and_four_by_default():
    request = ChatRequest(model="auto", messages=[{"role": "user", "content": "hi"}])
    assert len(Router({"p"}).plan(request, _many(10), extra=0).candidates) == 4
    assert len(Router({"p"}, max_candidates=2).plan(request, _many(10), extra=0).candidates) == 2
    assert len(Router({"p"}, max_candidates=2).plan(request, _many(10), extra=3).candidates) == 5


def test_a_new_catalog_is_ranked_afresh():
    router = Router({"p"})
    request = ChatRequest(model="auto", messages=[{"role": "user", "content": "hi"}])
    assert _ids(router.plan(request, _catalog()))[0].startswith("p/")
    fresh = _many(3)
    assert set(_ids(router.plan(request, fresh))) == {"p/m0", "p/m1", "p/m2"}
    assert set(_ids(router.plan(request, fresh))) == {"p/m0", "p/m1", "p/m2"}


def test_observed_latency_reorders_the_short_list():
    request = ChatRequest(model="auto:speed", messages=[{"role": "user", "content": "hi"}])
    router = Router({"p"})
    first = _ids(router.plan(request, _catalog()))[0]
    slow = router.plan(request, _catalog(), observed_ms=lambda m: 60_000.0 if m == first else None)
    assert _ids(slow)[0] != first and first in _ids(slow)


def test_rankings_list_every_configured_model_best_first():
    ranked = Router({"p"}).rankings(_catalog(), "speed")
    assert ranked[0].model.id == "p/fast"
    assert {c.model.id for c in ranked} == {m[0] for m in MODELS if m[0].startswith("p/")}
    assert [c.score for c in ranked] == sorted((c.score for c in ranked), reverse=True)


def test_an_explicit_chain_skips_unconfigured_models_and_goes_on():
    plan = _plan("other/unconfigured", fallbacks=["p/mid"])
    assert _ids(plan) == ["p/mid"]
    assert plan.rejected == [("other/unconfigured", "provider_not_configured")]
    # an explicit model is scored like the same model in the rankings
    ranked = {c.model.id: c for c in Router({"p"}).rankings(_catalog(), "balanced")}
    assert plan.candidates[0].breakdown == ranked["p/mid"].breakdown
    with pytest.raises(NoCandidates) as caught:
        _plan("other/unconfigured")
    assert caught.value.param == "model"


def test_no_candidates_lists_the_reasons_separated():
    with pytest.raises(NoCandidates) as caught:
        _plan("p/cheap", "word " * 60_000, fallbacks=["p/fast"])
    assert "(p/cheap: context_window(" in caught.value.message
    assert "); p/fast: context_window(" in caught.value.message
    with pytest.raises(NoCandidates) as auto:
        _plan("auto:budget", "word " * 3_000_000)
    assert auto.value.param == "model"


def test_output_limit_equal_to_the_models_maximum_fits_and_streaming_needs_support():
    from orchestra.routing.router import unfit_reason

    model = _window_model(100_000, max_output=4096)
    request = ChatRequest.model_validate(
        {"model": "p/w", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 4096}
    )
    assert unfit_reason(model, request, 10) is None
    assert unfit_reason(model, request.model_copy(update={"max_tokens": 4097}), 10) == (
        "max_output_tokens(4096)"
    )
    no_stream = model.model_copy(update={"capabilities": frozenset()})
    assert unfit_reason(no_stream, request.model_copy(update={"stream": True}), 10) == (
        "no_streaming"
    )


def test_route_header_has_exactly_its_fields():
    plan = _plan("auto:speed")
    chosen = plan.candidates[0].model.id
    header = json.loads(json.dumps(plan.explain(chosen)))
    assert set(header) == {"profile", "complexity", "chosen", "breakdown", "chain", "rejected"}
    assert header["chosen"] == chosen and header["breakdown"] == plan.candidates[0].breakdown
    assert plan.explain(None)["breakdown"] is None


def test_one_catalog_is_indexed_once():
    router, catalog = Router({"p"}), _catalog()
    assert router._index_for(catalog) is router._index_for(catalog)


# --- embedding models never chat ---------------------------------------------------------


def _with_embedding_model() -> Catalog:
    embedder = ModelInfo(
        id="p/embed",
        context_window=8192,
        input_price=1e-12,  # the cheapest and the best: a budget route would love it
        output_price=0.0,
        quality=1600,
        latency_ms=5,
        tokens_per_s=5000,
        capabilities=frozenset({"embeddings", "streaming", "tools", "vision"}),
        dimensions=256,
    )
    return Catalog([*_catalog(), embedder])


@pytest.mark.parametrize("model", ["auto", "auto:budget", "auto:quality", "auto:speed", "budget"])
def test_auto_chat_never_routes_to_an_embedding_model(model):
    request = ChatRequest.model_validate(
        {"model": model, "messages": [{"role": "user", "content": "hi"}]}
    )
    router = Router({"p"}, max_candidates=10)
    plan = router.plan(request, _with_embedding_model(), extra=10)
    assert "p/embed" not in _ids(plan)
    assert all(c.model.id != "p/embed" for c in router.rankings(_with_embedding_model(), "budget"))


@pytest.mark.parametrize(
    ("extra", "param"),
    [({"model": "p/embed"}, "model"), ({"model": "p/mid", "fallbacks": ["embed"]}, "fallbacks[0]")],
)
def test_an_explicit_embedding_model_is_refused_for_chat_naming_the_field(extra, param):
    from orchestra.errors import InvalidRequest

    request = ChatRequest.model_validate({"messages": [{"role": "user", "content": "hi"}], **extra})
    with pytest.raises(InvalidRequest) as info:
        Router({"p"}).plan(request, _with_embedding_model())
    assert info.value.status == 400 and info.value.param == param
    assert "embedding model" in info.value.message
