"""The metrics on a tiny file computed by hand; train and eval through the CLI on small labelled
files; the trained router driving `auto` with the willingness-to-pay knob; `tierroute route`."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from routing_helpers import chat

from tierroute.routing import Router, RoutingConfig
from tierroute.routing.cli import route_cmd, router_group
from tierroute.routing.dataset import load_data
from tierroute.routing.evaluate import evaluate
from tierroute.routing.learned import TrainedRouter
from tierroute.types import RouteHints

KEYS = {"apgr", "cpt50", "cpt80", "strong_share_at_95", "cost_fraction_at_95"}


def test_metrics_by_hand() -> None:
    # strong/weak scores; router order p1, p2, p4, p3
    scores = np.array([[1, 0], [1, 1], [0, 0], [1, 0]], dtype=float)
    costs = np.array([[0.010, 0.001]] * 4)
    m = evaluate(np.array([0.9, 0.8, 0.1, 0.5]), scores, costs)
    # q_w = 0.25, q_s = 0.75; PGR at k = 0..4 strong calls: 0, .5, .5, 1, 1
    # APGR = 0.25 * ((0+.5)/2 + (.5+.5)/2 + (.5+1)/2 + (1+1)/2) = 0.625
    assert m["apgr"] == pytest.approx(0.625)
    assert m["cpt50"] == pytest.approx(0.25)
    assert m["cpt80"] == pytest.approx(0.75)
    # 95% of 0.75 = 0.7125, first reached with 3 strong calls
    assert m["strong_share_at_95"] == pytest.approx(0.75)
    # cost at k=3: 4 * 0.001 + 3 * 0.009 = 0.031, over all-strong 0.04
    assert m["cost_fraction_at_95"] == pytest.approx(0.775)
    assert set(m) == KEYS | {"random"}
    assert set(m["random"]) == KEYS
    assert 0.3 < m["random"]["apgr"] < 0.7


HARD = ["Compute {a} * {b} + {c}, then divide the result by {d} and give the remainder.",
        "A tank holds {a} litres and leaks {b} litres per hour while {c} litres flow in every {d} hours. "
        "After how many hours is it empty?",
        "Find the sum of all multiples of {a} or {b} below {c}{d}."]
EASY = ["Say hello to my friend {n}.", "Tell {n} good morning in a cheerful way.",
        "Write a one-line birthday greeting for {n}."]
NAMES = ["Tom", "Ana", "Li", "Omar", "Eva", "Raj", "Kim", "Zoe", "Ben", "Ida", "Max", "Uma"]


def rows(seed: int, n: int) -> list[dict]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        hard = i % 2 == 0
        t = (HARD if hard else EASY)[int(rng.integers(3))]
        text = t.format(a=int(rng.integers(11, 99)), b=int(rng.integers(11, 99)), c=int(rng.integers(100, 999)),
                        d=int(rng.integers(3, 9)), n=NAMES[int(rng.integers(len(NAMES)))])
        out.append({"id": f"t/{i}", "source": "toy/x", "messages": [{"role": "user", "content": text}],
                    "models": {"big": {"score": 1.0, "cost_usd": 0.01},
                               "small": {"score": 0.0 if hard else 1.0, "cost_usd": 0.001}}})
    return out


def write(path: Path, data: list[dict]) -> Path:
    text = "".join(json.dumps(r) + "\n" for r in data)
    if path.name.endswith(".gz"):
        with gzip.open(path, "wt") as f:
            f.write(text)
    else:
        path.write_text(text)
    return path


def test_train_and_eval_cli(tmp_path: Path, settings, rules) -> None:
    train = write(tmp_path / "train.jsonl.gz", rows(1, 48))
    test = write(tmp_path / "test.jsonl", rows(2, 40))
    out = tmp_path / "router.npz"
    runner = CliRunner()
    r = runner.invoke(router_group, ["train", "--data", str(train), "--out", str(out), "--quiet"])
    assert r.exit_code == 0, r.output
    assert out.exists() and "strong=big weak=small" in r.output
    r = runner.invoke(router_group, ["eval", "--router", str(out), "--data", str(test), "--json"])
    assert r.exit_code == 0, r.output
    m = json.loads(r.output)
    assert set(m) == KEYS | {"random"} and set(m["random"]) == KEYS
    # A router that puts the 20 hard prompts first: PGR(x) = min(2x, 1), so APGR = 0.75,
    # CPT50 = 10/40, CPT80 = 16/40; 95% quality needs PGR 0.9 = 18/40 strong calls,
    # costing 40 * 0.001 + 18 * 0.009 = 0.202 of all-strong 0.4.
    assert m["apgr"] == pytest.approx(0.75)
    assert m["cpt50"] == pytest.approx(0.25)
    assert m["cpt80"] == pytest.approx(0.40)
    assert m["strong_share_at_95"] == pytest.approx(0.45)
    assert m["cost_fraction_at_95"] == pytest.approx(0.505)
    assert m["random"]["apgr"] < 0.65

    # The gateway's use: `auto` with the router; willingness to pay moves the split.
    router = Router(settings, rules, RoutingConfig(router=str(out)))
    hard = chat("Compute 57 * 23 + 400, then divide the result by 7 and give the remainder.")
    easy = chat("Say hello to my friend Jo.")
    ph = await_plan(router, hard, RouteHints())
    pe = await_plan(router, easy, RouteHints())
    assert ph.classification.complexity > pe.classification.complexity
    assert any("trained router" in x for x in ph.classification.reasons)
    # the vector the semantic cache already computed for the same turn gives the same decision
    from tierroute.embedding import default_embedder

    vec = default_embedder().embed([hard.messages[-1].text()])[0]
    import asyncio

    shared = asyncio.run(router.plan_async(hard, RouteHints(), vector=vec))
    assert shared.classification.complexity == ph.classification.complexity
    stingy = await_plan(router, hard, RouteHints(willingness_to_pay=0.01))
    generous = await_plan(router, easy, RouteHints(willingness_to_pay=0.99))
    assert stingy.classification.complexity < ph.classification.complexity
    assert generous.classification.complexity > pe.classification.complexity


def await_plan(router: Router, req, hints):
    import asyncio

    return asyncio.run(router.plan_async(req, hints))


def test_bad_data_names_file_and_line(tmp_path: Path) -> None:
    p = tmp_path / "bad.jsonl"
    p.write_text(json.dumps(rows(1, 1)[0]) + "\n" + '{"messages": [{"role": "user", "content": "x"}]}\n')
    with pytest.raises(ValueError, match=r"bad.jsonl:2: needs a `models` object"):
        load_data([p])
    r = CliRunner().invoke(router_group, ["train", "--data", str(p), "--out", str(tmp_path / "r.npz")])
    assert r.exit_code != 0 and "bad.jsonl:2" in r.output


def test_router_file_is_not_pickle(tmp_path: Path) -> None:
    p = tmp_path / "x.npz"
    np.savez(p, header=np.frombuffer(b'{"format": "other"}', dtype=np.uint8))
    with pytest.raises(ValueError, match="not a tierroute router"):
        TrainedRouter.load(p)


def test_route_dry_run_json_and_table(tmp_path: Path) -> None:
    runner = CliRunner()
    r = runner.invoke(route_cmd, ["--json", "--fast", "Write a docstring for def f(x): return x"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.output)
    assert d["route"] == "rule:documentation" and d["classification"]["task"] == "documentation"
    assert d["attempts"][0]["deployment"] and "api_key" not in r.output
    f = write(tmp_path / "reqs.jsonl", [{"prompt": "Prove that sqrt(2) is irrational."},
                                        {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]},
                                        {"model": "nope", "messages": [{"role": "user", "content": "hi"}]}])
    r = runner.invoke(route_cmd, ["--file", str(f), "--fast"])
    assert r.exit_code == 1, r.output  # one of the requests names an unknown model
    assert "rule:maths" in r.output and "model:gpt-4o" in r.output and "404" in r.output


def test_three_models_use_the_middle_one(tmp_path: Path) -> None:
    def three(seed: int, n: int) -> list[dict]:
        out = rows(seed, n)
        for r in out:
            hard = r["models"]["small"]["score"] == 0.0
            r["models"] = {"big": {"score": 1.0, "cost_usd": 0.01}, "mid": {"score": 1.0, "cost_usd": 0.003},
                           "small": {"score": 0.0 if hard else 1.0, "cost_usd": 0.001}}
        return out

    train = write(tmp_path / "train3.jsonl", three(3, 48))
    test = write(tmp_path / "test3.jsonl", three(4, 40))
    out = tmp_path / "r3.npz"
    runner = CliRunner()
    assert runner.invoke(router_group, ["train", "--data", str(train), "--out", str(out), "--quiet"]).exit_code == 0
    r = runner.invoke(router_group, ["eval", "--router", str(out), "--data", str(test), "--json"])
    m = json.loads(r.output)
    # Pairing big with small alone costs 0.505 of all-big (see above); sending the hard half to mid
    # and the easy half to small costs 20 * 0.003 + 20 * 0.001 = 0.08 of 0.4 = 0.2.
    assert m["cost_fraction_at_95"] == pytest.approx(0.2, abs=0.03)


def test_missing_router_file_is_a_config_error(tmp_path: Path, settings, rules) -> None:
    from tierroute.config.loader import ConfigError

    with pytest.raises(ConfigError) as e:
        Router(settings, rules, RoutingConfig(router=str(tmp_path / "nope.npz")))
    assert e.value.key == "routing.router" and "router train" in e.value.fix


def labelled_rows(seed: int, n: int) -> list[dict]:
    """Toy rows whose `source` names a fine label ("toy/hard", "toy/easy"), as MMLU names its subject."""
    out = rows(seed, n)
    for r in out:
        r["source"] = "toy/hard" if r["models"]["small"]["score"] == 0.0 else "toy/easy"
    return out


def test_dataset_keeps_the_fine_label(tmp_path: Path) -> None:
    d = load_data([write(tmp_path / "l.jsonl", labelled_rows(1, 6))])
    assert set(d.sources) == {"toy"}  # experts are per source
    assert set(d.labels) == {"toy/hard", "toy/easy"}  # the label head learns the finer kind
    assert d.subset(np.array([0, 1])).labels == d.labels[:2]


def test_label_head_learns_which_kind_gains(tmp_path: Path, monkeypatch) -> None:
    import tierroute.routing.train as train
    from tierroute.embedding import default_embedder

    d = load_data([write(tmp_path / "l.jsonl", labelled_rows(5, 48))])
    emb = default_embedder()
    vecs = emb.embed(d.texts)
    gain = d.scores[:, 0] - d.scores[:, 1]
    head = train.fit_label_head(vecs, d.labels, gain)
    assert head is not None
    w, b, gains = head
    # two labels: hard rows gained 1 from the big model, easy rows 0; shrunk towards the mean 0.5
    assert sorted(np.round(gains, 3)) == pytest.approx([0.5 * 5 / (24 + 5), 1 - 0.5 * 5 / (24 + 5)], abs=1e-3)
    new = emb.embed(["Compute 31 * 17 + 250, then divide the result by 6 and give the remainder.",
                     "Say hello to my friend Maria."])
    hard, easy = train.label_gain(new, w, b, gains)
    assert hard > easy + 0.3
    assert train.fit_label_head(vecs, ["toy"] * len(d), gain) is None  # one label: nothing to learn

    # Force the head into the router (its weight is normally cross-validated) and check the file keeps it.
    monkeypatch.setattr(train, "LABEL_WEIGHTS", (0.7,))
    router = train.train_router(d, vecs, embedder_name=emb.name, seed=1)
    ex = router.experts[0]
    assert ex.label_weight == 0.7 and len(ex.label_gains) == 2
    path = tmp_path / "r.npz"
    router.save(path)
    again = TrainedRouter.load(path)
    assert again.experts[0].label_weight == 0.7
    np.testing.assert_allclose(again.need(new, ["a", "b"]), router.need(new, ["a", "b"]), atol=1e-6)
    assert again.need(new[:1], ["x"])[0] > again.need(new[1:], ["x"])[0]


def test_embedding_cache_reuses_vectors(tmp_path: Path, monkeypatch) -> None:
    from tierroute.embedding import default_embedder
    from tierroute.routing.train import embed_texts

    class Counting:
        """The real embedder, counting the texts it is asked to embed."""

        def __init__(self) -> None:
            self.inner = default_embedder()
            self.name, self.dimension, self._max_tokens, self.calls = self.inner.name, 384, 128, 0

        def embed(self, texts: list[str]) -> np.ndarray:
            self.calls += len(texts)
            return self.inner.embed(texts)

    monkeypatch.setenv("TIERROUTE_EMBED_CACHE", str(tmp_path / "cache"))
    e = Counting()
    texts = ["What is 2 + 2?", "Name a prime number above 10."]
    first = embed_texts(e, texts)
    assert e.calls == 2 and len(list((tmp_path / "cache").glob("emb-*.npy"))) == 1
    again = embed_texts(e, texts)
    assert e.calls == 2  # served from the cache
    np.testing.assert_array_equal(first, again)
    embed_texts(e, texts[:1])  # other texts: another key
    assert e.calls == 3
