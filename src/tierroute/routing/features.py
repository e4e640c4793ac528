"""Cheap hand-made prompt features for the trained router (tens of microseconds).

They carry what a sentence embedding truncated to 128 tokens misses: how long the prompt is, how
many quantities a word problem juggles, how many steps it spells out.
"""

from __future__ import annotations

import math
import re
import zlib

import numpy as np

_NUM = re.compile(r"\d+(?:[.,]\d+)*")
_STEP_WORDS = re.compile(r"\b(half|twice|third|quarter|double|triple|percent|each|per|every|times|remaining|rest|"
                         r"total|more than|less than|fewer|after|then)\b")
_CODE = re.compile(r"```|\bdef |\bclass |\breturn\b|[{};]\s*$", re.M)

NAMES = ("log_chars", "log_words", "numbers", "log_numbers", "sentences", "percent", "decimals", "log_max_number",
         "step_words", "type_token_ratio", "lines", "code", "question_marks", "choices")


def prompt_features(text: str) -> list[float]:
    nums = _NUM.findall(text)
    words = text.split()
    low = text.lower()
    biggest = 0.0
    for n in nums[:50]:
        n = n.replace(",", "")
        if n.count(".") <= 1:
            biggest = max(biggest, float(n))
    return [
        math.log1p(len(text)),
        math.log1p(len(words)),
        float(min(len(nums), 40)),
        math.log1p(len(nums)),
        float(min(text.count(".") + text.count("?") + text.count("!"), 60)),
        float(text.count("%")),
        float(sum(1 for n in nums if "." in n)),
        math.log1p(min(biggest, 1e12)),
        float(len(_STEP_WORDS.findall(low))),
        len({w.lower() for w in words}) / max(1, len(words)),
        math.log1p(text.count("\n")),
        float(len(_CODE.findall(text))),
        float(text.count("?")),
        float(len(re.findall(r"^\s*[A-D][.)]\s", text, re.M))),
    ]


# ---------------------------------------------------------------- hashed word n-grams
# The words a 128-token sentence embedding misses or blurs (the question stem and options after a
# long passage, a topic finer than the subject): unigrams and bigrams of lower-cased word tokens,
# hashed into 2**TEXT_BITS buckets with CRC-32 (stable across processes and versions, unlike hash()),
# weighted TF-IDF style (1 + log count, times the bucket's inverse document frequency, L2-normalised).
# Training and inference share `gram_counts`, so a router file scores text exactly as it was trained.

TEXT_BITS = 18
_WORD = re.compile(r"\w+")


def gram_counts(text: str) -> dict[int, int]:
    """Bucket -> count of the text's word unigrams and bigrams."""
    toks = _WORD.findall(text.lower())
    mask = (1 << TEXT_BITS) - 1
    out: dict[int, int] = {}
    for g in toks + [a + " " + b for a, b in zip(toks, toks[1:], strict=False)]:
        h = zlib.crc32(g.encode("utf-8", "surrogatepass")) & mask
        out[h] = out.get(h, 0) + 1
    return out


def text_score(c: dict[int, int], idx: np.ndarray, idf: np.ndarray, coef: np.ndarray, unseen_idf: float) -> float:
    """The linear score ``coef . tfidf(text)`` of a text's ``gram_counts`` with the buckets seen in
    training (``idx``, sorted, their ``idf`` and ``coef``); a bucket never seen in training keeps
    ``unseen_idf`` for the norm."""
    if not c or len(idx) == 0:
        return 0.0
    b = np.fromiter(c.keys(), dtype=np.int32, count=len(c))  # the dtype of `idx`: no copy
    tf = 1.0 + np.log(np.fromiter(c.values(), dtype=np.float64, count=len(c)))
    pos = np.minimum(np.searchsorted(idx, b), len(idx) - 1)
    seen = idx[pos] == b
    w = tf * np.where(seen, idf[pos], unseen_idf)
    norm = float(np.sqrt(w @ w)) or 1.0
    return float(w[seen] @ coef[pos[seen]]) / norm
