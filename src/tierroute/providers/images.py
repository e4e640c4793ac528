"""Image URLs from OpenAI content parts, split into what Anthropic and Gemini want."""

from __future__ import annotations

import mimetypes

from tierroute.errors import BadRequest
from tierroute.types import Deployment


def split_data_url(url: str, dep: Deployment, param: str) -> tuple[str, str]:
    """``data:image/png;base64,AAAA`` -> ("image/png", "AAAA"); a 400 for anything else."""
    head, sep, data = url.partition(",")
    if not sep or not head.startswith("data:") or not head.endswith(";base64"):
        raise BadRequest(f"{param}: an inline image must be a base64 data URL (data:<mime>;base64,...)",
                         param=param, deployment=dep.id)
    return head[5:-7] or "image/png", data


def guess_mime(url: str) -> str:
    mime, _ = mimetypes.guess_type(url.split("?", 1)[0])
    return mime or "image/jpeg"
