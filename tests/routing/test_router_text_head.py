"""The trained router's word n-gram head: a router file scores a new prompt exactly as training
scored it, the head learns a cue the sentence embedding blurs, and older router files still load."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import tierroute.routing.train as train
from tierroute.routing.dataset import RoutingData
from tierroute.routing.evaluate import evaluate
from tierroute.routing.features import gram_counts, text_score
from tierroute.routing.learned import TrainedRouter

TOPICS = ["the history of the Roman road network", "how bees find flowers", "the boiling point of water",
          "a recipe for lentil soup", "the rules of chess castling", "why the sky looks blue",
          "the causes of inflation", "how vaccines train the immune system", "tides and the moon",
          "the plot of Hamlet", "photosynthesis in leaves", "the French revolution"]


def toy(seed: int, n: int) -> RoutingData:
    """Prompts on random topics; the strong model gains only where the prompt asks for a "rigorous
    derivation" rather than a "quick overview": a two-word cue inside a longer sentence."""
    rng = np.random.default_rng(seed)
    texts, scores = [], []
    for i in range(n):
        hard = i % 2 == 0
        topic = TOPICS[int(rng.integers(len(TOPICS)))]
        ask = "a rigorous derivation" if hard else "a quick overview"
        texts.append(f"Tell me about {topic}, please; I would like {ask}, in about {int(rng.integers(3, 9))} lines.")
        scores.append([1.0, 0.0 if hard else 1.0])
    scores_a = np.array(scores)
    costs = np.tile([0.01, 0.001], (n, 1))
    return RoutingData(texts, ["toy"] * n, ["big", "small"], scores_a, costs)


def test_file_scores_text_exactly_as_training_did() -> None:
    d = toy(1, 60)
    counts = train.text_counts(d.texts)
    gain = d.scores[:, 0] - d.scores[:, 1]
    idx, idf, coef, b, unseen = train.fit_text_head(counts, gain, alpha=3.0)
    assert np.all(np.diff(idx) > 0)  # sorted, so inference can binary-search it
    # the training-time prediction: dense idf (a never-seen bucket gets the unseen idf) and coefficients
    full_idf = train._idf(counts)
    full_coef = np.zeros(counts.shape[1])
    full_coef[idx] = coef
    new = ["Tell me about volcanoes, please; I would like a rigorous derivation.",
           "Completely unseen words: zyxomorph quibblequark.", ""]
    want = train._tfidf(train.text_counts(new), full_idf) @ full_coef + b
    got = [text_score(gram_counts(t), idx, idf, coef, unseen) + b for t in new]
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
    assert got[0] > b + 0.1  # the cue words push the predicted gain up
    assert got[1] == pytest.approx(b) and got[2] == pytest.approx(b)  # no known word: the intercept alone


def test_router_learns_a_cue_the_embedding_blurs(tmp_path: Path, monkeypatch) -> None:
    from tierroute.embedding import default_embedder

    emb = default_embedder()
    d, test = toy(2, 80), toy(3, 60)
    vecs, tvecs = emb.embed(d.texts), emb.embed(test.texts)
    router = train.train_router(d, vecs, embedder_name=emb.name, seed=1)
    ex = router.experts[0]
    assert ex.text_weight > 0 and len(ex.text_idx) > 0, ex.info  # cross-validation keeps the text head
    m = train.eval_router(router, test, tvecs)
    assert m["apgr"] > 0.7  # a perfect split scores 0.75 here (half the prompts gain)

    path = tmp_path / "r.npz"
    router.save(path)
    again = TrainedRouter.load(path)
    np.testing.assert_allclose(again.need(tvecs, test.texts), router.need(tvecs, test.texts), atol=1e-9)

    # The text head alone, as the file holds it, ranks the held-out prompts perfectly.
    tv = again.experts[0].text_vote([gram_counts(t) for t in test.texts])
    assert evaluate(tv, test.scores, test.costs, random_trials=0)["apgr"] == pytest.approx(0.75)


def test_router_file_without_text_head_still_loads(tmp_path: Path) -> None:
    from tierroute.embedding import default_embedder

    emb = default_embedder()
    d = toy(4, 40)
    vecs = emb.embed(d.texts)
    router = train.train_router(d, vecs, embedder_name=emb.name, seed=1)
    path = tmp_path / "r.npz"
    router.save(path)
    # Rewrite it as the previous format wrote it: no text arrays, no text fields in the header.
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files if "text_" not in k}
    header = json.loads(bytes(arrays.pop("header")).decode())
    header["format"] = "tierroute-router/4"
    for e in header["experts"]:
        for k in [k for k in e if k.startswith("text_")]:
            del e[k]
    old = tmp_path / "old.npz"
    np.savez_compressed(old, header=np.frombuffer(json.dumps(header).encode(), dtype=np.uint8), **arrays)
    r = TrainedRouter.load(old)
    assert r.experts[0].text_weight == 0.0
    q = r.need_quantile(vecs[0], d.texts[0])
    assert 0.0 <= q <= 1.0
