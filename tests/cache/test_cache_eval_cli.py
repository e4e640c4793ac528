"""`cache eval` on a small fixture whose metrics are worked out by hand below."""

import gzip
import json

from click.testing import CliRunner

from tierroute.cache import cache_cli

PAIRS = [
    # 1 duplicate, paraphrase: a correct semantic hit
    ("How can I improve my English writing skills?", "How do I improve my English writing skills?", True),
    # 2 not duplicate, number changed: must miss
    ("How many calories are in 2 eggs?", "How many calories are in 3 eggs?", False),
    # 3 not duplicate, unrelated: miss
    ("Why is the sky blue?", "How do I bake sourdough bread?", False),
    # 4 duplicate, identical text: a correct exact hit
    ("What is the capital of France?", "What is the capital of France?", True),
    # 5 not duplicate, opposite verb: must miss
    ("How do I enable 2FA on my account?", "How do I disable 2FA on my account?", False),
    # 6 labelled duplicate but unrelated: a miss that costs recall
    ("Is it safe to eat raw eggs?", "How are volcanoes formed?", True),
    # 7 not duplicate, but q2 paraphrases pair 1's q1: it gets pair 1's answer, a false hit
    ("What is the tallest mountain in Africa?", "How do I improve my English writing skills?", False),
]
# hits: 1, 4, 7 -> 3 of 7; correct: 1, 4; false: 7.  duplicates: 1, 4, 6; should-miss: 2, 3, 5, 7.
EXPECTED = {"hit_rate": 3 / 7, "precision": 2 / 3, "recall": 2 / 3, "false_hit_rate": 1 / 4}


def write(path, gz: bool):
    lines = "".join(json.dumps({"id": f"t/{i}", "q1": a, "q2": b, "duplicate": d}) + "\n"
                    for i, (a, b, d) in enumerate(PAIRS))
    if gz:
        with gzip.open(path, "wt") as f:
            f.write(lines)
    else:
        path.write_text(lines)
    return str(path)


def test_cache_eval_json_matches_hand_computed_metrics(tmp_path, embedder):
    for name, gz in (("pairs.jsonl", False), ("pairs.jsonl.gz", True)):
        res = CliRunner().invoke(cache_cli, ["eval", "--pairs", write(tmp_path / name, gz), "--json"])
        assert res.exit_code == 0, res.output
        out = json.loads(res.stdout.strip().splitlines()[-1])
        for k, v in EXPECTED.items():
            assert abs(out[k] - v) < 1e-9, (k, out[k], v)
        assert (out["hits"], out["correct_hits"], out["false_hits"]) == (3, 2, 1)
        assert 0 < out["lookup_ms_p50"] <= out["lookup_ms_p95"]


def test_cache_eval_rejects_a_malformed_file(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "x", "q1": "a"}\n')
    res = CliRunner().invoke(cache_cli, ["eval", "--pairs", str(bad), "--json"])
    assert res.exit_code != 0
    assert "bad.jsonl:1" in res.output and "duplicate" in res.output
