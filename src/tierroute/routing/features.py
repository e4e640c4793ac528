"""Cheap hand-made prompt features for the trained router (tens of microseconds).

They carry what a sentence embedding truncated to 128 tokens misses: how long the prompt is, how
many quantities a word problem juggles, how many steps it spells out.
"""

from __future__ import annotations

import math
import re

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
