"""Plain-text tables for the terminal (no colour codes, so they paste into issues and logs)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def render(headers: Sequence[str], rows: Sequence[Sequence[Any]], title: str | None = None) -> str:
    """Left-align text columns, right-align numbers; a rule under the header and above a TOTAL row."""
    cells = [[str(c) for c in r] for r in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]
    numeric = [all(_is_num(r[i]) for r in rows) and bool(rows) for i in range(len(headers))]

    def line(vals: Sequence[str]) -> str:
        return "  ".join(
            v.rjust(w) if n else v.ljust(w) for v, w, n in zip(vals, widths, numeric, strict=True)
        ).rstrip()

    rule = "  ".join("-" * w for w in widths)
    out = [title, ""] if title else []
    out += [line(list(headers)), rule]
    for r in cells:
        if r and r[0].upper().startswith("TOTAL"):
            out.append(rule)
        out.append(line(r))
    return "\n".join(out)


def _is_num(v: Any) -> bool:
    if isinstance(v, int | float):
        return True
    s = str(v).replace(",", "").replace("$", "").replace("%", "").strip()
    if s in ("", "-"):
        return True
    try:
        float(s)
        return True
    except ValueError:
        return False


def usd(v: float, digits: int = 4) -> str:
    return f"${v:,.{digits}f}"


def pct(v: float) -> str:
    return f"{v:.1f}%"
