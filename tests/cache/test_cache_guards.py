"""The near-miss guards: precise about numbers, negation, opposites and entities, not about wording."""

from __future__ import annotations

import pytest

from tierroute.cache import CacheConfig
from tierroute.cache.evaluate import evaluate_pairs
from tierroute.cache.guards import FEATURE_NAMES, features, profile, veto
from tierroute.cache.pairs import Pair


def why(a: str, b: str) -> str | None:
    return veto(profile(a), profile(b))


@pytest.mark.parametrize(("a", "b", "reason"), [
    ("How do I enable 2FA?", "How do I disable 2FA?", "opposite"),
    ("How do I upgrade to iOS 9.3.1?", "How do I upgrade to iOS 9.1?", "numbers"),
    ("Can I lose 2 thousand calories a day?", "Can I lose 3 thousand calories a day?", "numbers"),
    ("Should I learn Python?", "Should I not learn Python?", "negation"),
    ("Why don\u2019t cats purr?", "Why do cats purr?", "negation"),  # a curly apostrophe still negates
    ("How to maximize revenue?", "How to minimize revenue?", "opposite"),
    ("Would you date a nerd guy?", "Would you date a nerd girl?", "opposite"),
    ("Is Python hard to learn?", "Is Java hard to learn?", "entities"),
])
def test_near_miss_traps_are_vetoed(a, b, reason):
    got = why(a, b)
    assert got is not None and got.startswith(reason), (a, b, got)


@pytest.mark.parametrize(("a", "b"), [
    # rewording that states the same fact
    ("When you don\u2019t want to wait for the download", "When you don't want to wait for the download"),
    ("It is not clear what the quickstart covers.", "It is uncertain what the quickstart covers."),
    ("If the dataset doesn't have metadata, a label column is created.",
     "In the absence of metadata in the dataset, a label column is created."),
    ("No, datasets can also be installed using pip.", "Datasets can also be installed with pip."),
    ("Should I learn Python or not?", "Should I learn Python?"),
    # entities spelt out or spaced differently
    ("Is ML hard to learn?", "Is machine learning hard to learn?"),
    ("Huggingface.js ships TypeScript types.", "Hugging Face.js ships TypeScript types."),
    # magnitudes, not counts
    ("A dataset with several thousand images", "A dataset with thousands of images"),
])
def test_rewording_is_not_vetoed(a, b):
    assert why(a, b) is None


def test_swapped_roles_are_flagged_for_the_scorer():
    f = dict(zip(FEATURE_NAMES, features(0.99, profile("Are tigers afraid of cats?"),
                                         profile("Are cats afraid of tigers?")), strict=True))
    same = dict(zip(FEATURE_NAMES, features(0.99, profile("Are tigers afraid of cats?"),
                                            profile("Are tigers scared of cats?")), strict=True))
    assert f["order_differs"] == 1.0 and same["order_differs"] == 0.0
    assert f["bigram_jaccard"] < same["bigram_jaccard"]


async def test_eval_counts_an_exact_repeat_of_another_pair_as_a_false_hit(embedder):
    pairs = [Pair("a", "What is the capital of France?", "Which city is the capital of France?", True),
             Pair("b", "How do volcanoes form?", "What is the capital of France?", False)]
    strict = await evaluate_pairs(pairs, CacheConfig(), embedder)
    # Pair b's q2 is pair a's q1 word for word: the exact layer returns pair a's answer, not b's.
    assert strict["false_hits"] >= 1 and strict["exact_repeat_false_hits"] == 1
    lenient = await evaluate_pairs(pairs, CacheConfig(), embedder, count_exact_repeats_correct=True)
    assert lenient["false_hits"] == strict["false_hits"] - 1
    assert lenient["correct_hits"] == strict["correct_hits"] + 1
