"""Near-miss guards and lexical features for deciding whether two user turns ask the same thing.

Sentence embeddings score "enable 2FA" and "disable 2FA", or "iOS 9.3.1" and "iOS 9.1", as near
twins. These cheap text checks catch what embeddings blur: numbers and versions, negation and
opposite verbs, named entities, and the kind of question asked (why vs how). A hard mismatch vetoes
a semantic hit outright; the softer measures feed the scoring model in ``policy``.

The checks must be precise without punishing rewording (ChatGPT-style paraphrases change most
words): case and curly apostrophes are normalised, a "not" on one side is matched by a negating
word on the other ("without", "absence", "uncertain"), and an entity counts as present when it is
spelt out ("ML" / "machine learning") or spaced differently ("Huggingface" / "Hugging Face").
Word order, which bags of words lose ("are tigers afraid of cats" / "are cats afraid of tigers"),
reaches the scorer as two features.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9+#'.\-]*[A-Za-z0-9+#]|[A-Za-z0-9]")
# Digits with optional decimal/version parts ("9.3.1", "3.5", "2,000", "1/2"); a leading $ or - kept.
_NUMBER = re.compile(r"-?\$?\d+(?:[.,/:]\d+)*")

_NUMBER_WORDS = {
    "zero": "0", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5", "six": "6",
    "seven": "7", "eight": "8", "nine": "9", "ten": "10", "eleven": "11", "twelve": "12",
    "twenty": "20", "thirty": "30", "forty": "40", "fifty": "50",
}
# Multipliers name a number only after a count ("a thousand", "two million"); bare, they are
# magnitudes ("several thousand images" = "thousands of images").
_MULTIPLIERS = {"hundred": "100", "thousand": "1000", "million": "1000000", "billion": "1000000000"}
_COUNTS = {"a", "one", *_NUMBER_WORDS}

# Words that flip a question. Softer ones ("without", "nothing", "neither") paraphrase too freely
# ("cannot be used" / "is not supported", "without knowing") to veto on.
_NEGATIONS = {
    "not", "no", "never", "cannot", "cant", "dont", "doesnt", "didnt", "isnt", "arent", "wasnt", "werent", "wont",
    "wouldnt", "shouldnt", "couldnt", "hasnt", "havent", "hadnt", "aint", "mustnt", "neednt",
}

# Word pairs whose swap turns a question into its opposite. Stems, matched after _stem().
_OPPOSITES = [
    ("enabl", "disabl"), ("increas", "decreas"), ("add", "remov"), ("instal", "uninstal"),
    ("start", "stop"), ("buy", "sell"), ("befor", "after"), ("min", "max"), ("minimum", "maximum"),
    ("encrypt", "decrypt"), ("lock", "unlock"), ("upload", "download"), ("import", "export"),
    ("gain", "los"), ("win", "los"), ("best", "worst"), ("advantag", "disadvantag"),
    ("pro", "con"), ("posit", "negat"), ("true", "fals"), ("higher", "lower"), ("more", "less"),
    ("cheap", "expens"), ("fast", "slow"), ("faster", "slower"), ("old", "new"), ("older", "newer"),
    ("larg", "small"), ("bigger", "smaller"), ("up", "down"), ("open", "clos"), ("connect", "disconnect"),
    ("follow", "unfollow"), ("subscrib", "unsubscrib"), ("block", "unblock"), ("allow", "deni"),
    ("accept", "reject"), ("legal", "illeg"), ("male", "femal"), ("men", "women"), ("boy", "girl"),
    ("husband", "wife"), ("north", "south"), ("east", "west"), ("left", "right"), ("import", "export"),
    ("compil", "decompil"), ("zip", "unzip"), ("mount", "unmount"), ("like", "dislik"),
    ("love", "hate"), ("rich", "poor"), ("hot", "cold"), ("sync", "async"), ("client", "server"),
    ("input", "output"), ("read", "write"), ("push", "pull"), ("send", "receiv"), ("lend", "borrow"),
    ("maximiz", "minimiz"), ("maximis", "minimis"), ("guy", "girl"), ("man", "woman"), ("father", "mother"),
    ("son", "daughter"),
    ("brother", "sister"), ("king", "queen"), ("first", "last"), ("insid", "outsid"), ("abov", "below"),
    ("top", "bottom"), ("success", "failur"), ("agre", "disagre"), ("appear", "disappear"),
    ("possibl", "impossibl"), ("internal", "external"), ("import", "export"), ("high", "low"),
]
# Words that negate without "not": a hard negation on one side is matched by one of these on the
# other ("doesn't have metadata" / "in the absence of metadata", "not clear" / "uncertain").
_SOFT_NEGATIONS = {
    "without", "absence", "absent", "lack", "lacks", "lacking", "avoid", "avoids", "avoiding", "unable",
    "unclear", "uncertain", "unknown", "none", "nothing", "nobody", "nowhere", "neither", "nor", "optional",
    "instead", "fail", "fails", "failed", "impossible", "unavailable", "unsupported", "prevent", "prevents",
    "except", "excluding", "rather", "different", "agnostic", "free",
}
_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'"})
# An answer's leading "No," ("No, it can also be installed with pip") states a fact, it does not
# negate it; "not only" adds rather than negates.
_LEADING_NO = re.compile(r"\s*no\s*[,.!]", re.IGNORECASE)
_OPPOSITE_OF: dict[str, set[str]] = {}
for _a, _b in _OPPOSITES:
    _OPPOSITE_OF.setdefault(_a, set()).add(_b)
    _OPPOSITE_OF.setdefault(_b, set()).add(_a)

_QUESTION_WORDS = ("what", "why", "how", "when", "where", "who", "whom", "whose", "which", "should",
                   "can", "could", "is", "are", "do", "does", "will", "would")
# "how much" / "how many" / "how long" ask different things from a bare "how".
_HOW_SUFFIX = {"much", "many", "long", "old", "far", "often", "big"}

_STOPWORDS = {
    "a", "an", "the", "of", "to", "in", "on", "for", "and", "or", "is", "are", "was", "were", "be",
    "been", "being", "do", "does", "did", "i", "me", "my", "you", "your", "we", "our", "it", "its",
    "this", "that", "these", "those", "what", "which", "who", "whom", "how", "why", "when", "where",
    "can", "could", "should", "would", "will", "shall", "may", "might", "must", "with", "at", "by",
    "from", "as", "about", "into", "there", "their", "they", "them", "he", "she", "his", "her", "if",
    "so", "some", "any", "get", "way", "ways", "best", "good", "someone", "one", "have", "has", "had",
    "am", "than", "then", "also", "just", "really", "much", "many", "very", "most", "more", "other",
    "all", "us", "him", "things", "thing", "s", "t", "possible", "know", "like", "make", "use",
}
_ENTITY_SKIP = {"i", "what", "why", "how", "when", "where", "who", "which", "is", "are", "can", "do",
                "does", "should", "will", "would", "could", "the", "a", "an", "in", "if", "my"}


@lru_cache(maxsize=65536)  # a pure function of a word: vocabularies repeat, so cache it
def _stem(w: str) -> str:
    """A deliberately crude suffix stripper: good enough to match "studying" with "study"."""
    for suf in ("ations", "ation", "ings", "ing", "ies", "ied", "es", "ed", "ly", "s", "e"):
        if len(w) > len(suf) + 2 and w.endswith(suf):
            return w[: -len(suf)] + ("i" if suf in ("ies", "ied") else "")
    return w


@dataclass(slots=True)
class TextProfile:
    """What the guards need from one user turn, computed once when it is stored or looked up."""

    words: list[str]  # lower-cased tokens
    content: frozenset[str]  # stemmed content words
    numbers: frozenset[str]
    negations: int
    stems: frozenset[str]
    entities: frozenset[str]  # lower-cased capitalised / mixed-case / digit-bearing tokens
    qword: str
    lower: str
    soft_negation: bool  # a negating word other than "not" ("without", "absence", "avoid")
    bigrams: frozenset[tuple[str, str]]  # consecutive stems: word order, which bags of words lose
    initials: frozenset[str]  # initials of short word runs, for acronyms
    squashed: str  # lower-cased words without spaces ("hugging face" -> "huggingface")
    order: tuple[str, ...]  # content stems in order of first use


def profile(text: str) -> TextProfile:
    text = text.translate(_APOSTROPHES)  # "don\u2019t" is "don't"
    matches = list(_WORD.finditer(text))
    raw = [m.group() for m in matches]
    words = [w.lower().replace("'", "") for w in raw]
    nums = {n.lstrip("$").replace(",", "") for n in _NUMBER.findall(text)}
    nums |= {_NUMBER_WORDS[w] for w in words if w in _NUMBER_WORDS}
    nums |= {_MULTIPLIERS[w] for i, w in enumerate(words)
             if w in _MULTIPLIERS and i > 0 and (words[i - 1] in _COUNTS or words[i - 1].isdigit())}
    # "whether or not" / "... or not?" asks both ways: not a negation.
    negs = sum(1 for i, w in enumerate(words) if w in _NEGATIONS
               and not (w == "not" and (i and words[i - 1] == "or" or i + 1 < len(words) and words[i + 1] == "only"))
               and not (i == 0 and w == "no" and _LEADING_NO.match(text)))
    soft = any(w in _SOFT_NEGATIONS for w in words)
    seq = [_stem(w) for w in words]
    stems = frozenset(seq)
    content = frozenset(st for w, st in zip(words, seq, strict=True) if w not in _STOPWORDS and not w.isdigit())
    ents: set[str] = set()
    for m in matches:
        tok = m.group()
        low = tok.lower()
        k = m.start() - 1
        while k >= 0 and text[k].isspace():  # the character before the token, spaces skipped
            k -= 1
        sentence_start = k < 0 or text[k] in ".?!:;\"'(*-"
        is_entity = (
            any(c.isdigit() for c in tok) and any(c.isalpha() for c in tok)  # GPT-4, 2FA, iOS9
            or (tok[0].isupper() and not sentence_start and low not in _ENTITY_SKIP)
            or (any(c.isupper() for c in tok[1:]) and len(tok) > 1)  # iOS, PyTorch, USA
        )
        if is_entity:
            ents.add(_stem(low.removesuffix("'s")))
    qword = ""
    for i, w in enumerate(words[:6]):
        if w in _QUESTION_WORDS:
            qword = w
            if w == "how" and i + 1 < len(words) and words[i + 1] in _HOW_SUFFIX:
                qword = "how " + words[i + 1]
            break
    lower = " " + " ".join(words) + " "
    bigrams = frozenset(zip(seq, seq[1:], strict=False))
    # Initials of every run of 2..5 words, so "ML" is found in "machine learning".
    initials = frozenset("".join(w[0] for w in words[i : i + n]) for n in range(2, 6)
                         for i in range(len(words) - n + 1))
    order = tuple(dict.fromkeys(s for s in seq if s in content))
    return TextProfile(words, content, frozenset(nums), negs, stems, frozenset(ents), qword, lower, soft,
                       bigrams, initials, re.sub(r"[^a-z0-9]", "", lower), order)


def _missing(ents: frozenset[str], other: TextProfile) -> set[str]:
    """Entities of one side the other does not name, even spelt out ("ML" / "machine learning") or
    spaced differently ("Huggingface" / "Hugging Face")."""
    return {e for e in ents if e not in other.stems and f" {e}" not in other.lower
            and re.sub(r"[^a-z0-9]", "", e) not in other.squashed and e not in other.initials}


def veto(a: TextProfile, b: TextProfile) -> str | None:
    """Why two turns cannot be the same question, or None. Each check is a near-miss trap.

    A substitution (each side has a number / entity the other lacks: "iOS 9.3.1" vs "iOS 9.1",
    "Python" vs "Java") vetoes; an omission (one side just says less) is left to the scoring model.
    """
    if (a.numbers - b.numbers) and (b.numbers - a.numbers):
        return "numbers differ"
    if (a.negations > 0) != (b.negations > 0) and not (a.soft_negation or b.soft_negation):
        return "negation differs"
    only_a, only_b = a.stems - b.stems, b.stems - a.stems
    for s in only_a:
        opp = _OPPOSITE_OF.get(s)
        if opp and opp & only_b:
            return f"opposite words ({s})"
    if _missing(a.entities, b) and _missing(b.entities, a):
        return "entities differ"
    return None


FEATURE_NAMES = ["cos", "cos2", "jaccard", "only_a", "only_b", "qword_differs", "len_ratio",
                 "cos_x_jaccard", "content_min", "numbers_omitted", "entities_omitted", "frac_only_a",
                 "frac_only_b", "substitution", "bigram_jaccard", "order_differs"]


def features(cos: float, a: TextProfile, b: TextProfile) -> list[float]:
    """The scoring model's inputs for one (query, cached) pair; order matches FEATURE_NAMES."""
    inter = len(a.content & b.content)
    union = len(a.content | b.content) or 1
    jac = inter / union
    only_a = len(a.content - b.content)
    only_b = len(b.content - a.content)
    qdiff = 1.0 if (a.qword and b.qword and a.qword != b.qword) else 0.0
    la, lb = max(len(a.words), 1), max(len(b.words), 1)
    ratio = min(la, lb) / max(la, lb)
    cmin = min(len(a.content), len(b.content))
    nums = float(len(a.numbers ^ b.numbers) > 0)
    ents = float(min(len(_missing(a.entities, b)) + len(_missing(b.entities, a)), 3))
    big = len(a.bigrams & b.bigrams) / (len(a.bigrams | b.bigrams) or 1)
    # Same content words in another order: "are tigers afraid of cats" / "are cats afraid of tigers".
    shared = a.content & b.content
    swapped = float(len(shared) >= 2 and [s for s in a.order if s in shared] != [s for s in b.order if s in shared])
    return [cos, cos * cos, jac, float(min(only_a, 6)), float(min(only_b, 6)), qdiff, ratio, cos * jac,
            float(min(cmin, 8)), nums, ents, only_a / max(len(a.content), 1), only_b / max(len(b.content), 1),
            float(only_a > 0 and only_b > 0), big, swapped]
