"""The in-process cache with the real embedder: what hits, what must miss, and the controls."""

from __future__ import annotations

import msgspec
from cache_helpers import answer, ctx, req, tool

from tierroute.cache import CacheConfig, build_cache
from tierroute.types import Message

PARAPHRASE = ("How can I improve my English writing skills?", "How do I improve my English writing skills?")


async def test_exact_hit_returns_saved_answer_with_fresh_id(memory_cache):
    await memory_cache.store(req("What is the capital of France?"), ctx(), answer("Paris."))
    hit = await memory_cache.lookup(req("  What is the capital   of France? "), ctx())
    assert hit is not None and hit.kind == "exact" and hit.similarity is None
    assert hit.response.choices[0].message.content == "Paris."
    assert hit.response.id != "chatcmpl-orig"
    assert (hit.prompt_tokens, hit.completion_tokens, hit.model) == (12, 34, "gpt-4o-mini")


async def test_paraphrase_hits_semantically(memory_cache):
    await memory_cache.store(req(PARAPHRASE[0]), ctx(), answer("Read a lot and write daily."))
    hit = await memory_cache.lookup(req(PARAPHRASE[1]), ctx())
    assert hit is not None and hit.kind == "semantic"
    assert hit.similarity is not None and hit.similarity > 0.9
    assert hit.response.choices[0].message.content == "Read a lot and write daily."


async def test_looser_target_accepts_more_paraphrases(embedder):
    strict = build_cache(CacheConfig(target_false_hit_rate=0.002), embedder)
    loose = build_cache(CacheConfig(target_false_hit_rate=0.05), embedder)
    assert loose.policy.threshold < strict.policy.threshold
    for c in (strict, loose):
        await c.store(req("How do I reset my password?"), ctx(), answer("Use the reset link."))
    assert await strict.lookup(req("How can I reset my password?"), ctx()) is None
    assert (await loose.lookup(req("How can I reset my password?"), ctx())).kind == "semantic"


async def test_different_question_and_near_miss_traps_miss(memory_cache):
    stored = ["Why is the sky blue?", "How do I enable 2FA on my account?", "How do I upgrade to iOS 9.3.1?",
              "How many calories are in 2 eggs?", "Is it safe to eat raw eggs?", "What is the capital of France?"]
    for i, q in enumerate(stored):
        await memory_cache.store(req(q), ctx(), answer(f"answer {i}"))
    for q in ["How do I bake sourdough bread?", "How do I disable 2FA on my account?",
              "How do I upgrade to iOS 9.1?", "How many calories are in 3 eggs?",
              "Is it not safe to eat raw eggs?", "What is the capital of Germany?"]:
        assert await memory_cache.lookup(req(q), ctx()) is None, q
    assert memory_cache.stats()["vetoed"] >= 4


async def test_tenants_never_share_entries(memory_cache):
    await memory_cache.store(req(PARAPHRASE[0]), ctx(tenant="team-a"), answer("a's answer"))
    assert await memory_cache.lookup(req(PARAPHRASE[0]), ctx(tenant="team-b")) is None
    assert await memory_cache.lookup(req(PARAPHRASE[1]), ctx(tenant="team-b")) is None
    assert (await memory_cache.lookup(req(PARAPHRASE[0]), ctx(tenant="team-a"))).kind == "exact"


async def test_system_prompt_tools_model_params_and_history_partition(memory_cache):
    base = req(PARAPHRASE[0], system="You are terse.", tools=[tool("search")], temperature=0.0)
    await memory_cache.store(base, ctx(), answer("cached"))
    same = req(PARAPHRASE[0], system="You are terse.", tools=[tool("search")], temperature=0.0)
    assert (await memory_cache.lookup(same, ctx())).kind == "exact"
    variants = [
        req(PARAPHRASE[0], system="You are verbose.", tools=[tool("search")], temperature=0.0),
        req(PARAPHRASE[0], system="You are terse.", tools=[tool("calculator")], temperature=0.0),
        req(PARAPHRASE[0], system="You are terse.", tools=[tool("search")], temperature=0.0,
            tool_choice="required"),
        req(PARAPHRASE[0], system="You are terse.", tools=[tool("search")], temperature=0.0, max_tokens=5),
        req(PARAPHRASE[0], system="You are terse.", tools=[tool("search")], temperature=0.0,
            response_format={"type": "json_object"}),
    ]
    for v in variants:
        v = msgspec.convert(msgspec.to_builtins(v), type(v))
        assert await memory_cache.lookup(v, ctx()) is None
    assert await memory_cache.lookup(same, ctx(route="claude-3-5-sonnet")) is None
    # Same new turn after a different conversation: a different question in context.
    hist = msgspec.structs.replace(same, messages=[same.messages[0], Message(role="user", content="Hi"),
                                                   Message(role="assistant", content="Hello"), same.messages[-1]])
    assert await memory_cache.lookup(hist, ctx()) is None


async def test_high_temperature_skips_semantic_but_not_exact(memory_cache):
    await memory_cache.store(req(PARAPHRASE[0], temperature=1.2), ctx(), answer("x"))
    assert await memory_cache.lookup(req(PARAPHRASE[1], temperature=1.2), ctx()) is None
    assert (await memory_cache.lookup(req(PARAPHRASE[0], temperature=1.2), ctx())).kind == "exact"


async def test_no_cache_no_store_threshold_and_key_opt_out(memory_cache):
    await memory_cache.store(req(PARAPHRASE[0]), ctx(no_store=True), answer("x"))
    assert await memory_cache.lookup(req(PARAPHRASE[0]), ctx()) is None
    await memory_cache.store(req(PARAPHRASE[0]), ctx(), answer("x"))
    assert await memory_cache.lookup(req(PARAPHRASE[0]), ctx(no_cache=True)) is None
    assert await memory_cache.lookup(req(PARAPHRASE[1]), ctx(min_similarity=0.999)) is None
    assert (await memory_cache.lookup(req(PARAPHRASE[1]), ctx(min_similarity=0.9))).kind == "semantic"
    opted_out = ctx()
    opted_out.enabled = False
    assert await memory_cache.lookup(req(PARAPHRASE[0]), opted_out) is None


async def test_refused_answers_are_not_stored(memory_cache):
    await memory_cache.store(req("Tell me something bad"), ctx(), answer("", finish="content_filter"))
    assert await memory_cache.lookup(req("Tell me something bad"), ctx()) is None


async def test_purge_by_tenant_model_and_all(memory_cache):
    await memory_cache.store(req("q one"), ctx(tenant="a"), answer("1", model="m1"))
    await memory_cache.store(req("q two"), ctx(tenant="b"), answer("2", model="m1"))
    await memory_cache.store(req("q three"), ctx(tenant="b"), answer("3", model="m2"))
    assert await memory_cache.purge(tenant="a") == 1
    assert await memory_cache.lookup(req("q one"), ctx(tenant="a")) is None
    assert await memory_cache.purge(model="m2") == 1
    assert await memory_cache.lookup(req("q three"), ctx(tenant="b")) is None
    assert await memory_cache.lookup(req("q two"), ctx(tenant="b")) is not None
    assert await memory_cache.purge() == 1
    assert memory_cache.stats()["entries"] == 0


async def test_bounded_size_evicts_least_recently_used(embedder):
    c = build_cache(CacheConfig(max_entries=3, semantic=False), embedder)
    for q in ("alpha?", "beta?", "gamma?"):
        await c.store(req(q), ctx(), answer(q))
    assert await c.lookup(req("alpha?"), ctx()) is not None  # alpha is now the most recently used
    await c.store(req("delta?"), ctx(), answer("delta?"))
    assert await c.lookup(req("beta?"), ctx()) is None
    assert all([await c.lookup(req(q), ctx()) for q in ("alpha?", "gamma?", "delta?")])
    assert c.stats()["entries"] == 3 and c.stats()["evicted"] == 1
