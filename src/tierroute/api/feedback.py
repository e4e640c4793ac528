"""POST /v1/feedback: a client scores the answer a request got.

Body: ``{"request_id": "req_...", "score": 0..1, "comment": "..."}`` (``comment`` optional), where
``request_id`` is the ``X-Request-Id`` header of the answer. Keys as on the model endpoints: a
virtual key may score only its own requests (anyone else's id is a 404, like an unknown one); the
master key any. Scoring a request again replaces the earlier score (``"replaced": true``).

The request id is taken from the body only, never from an ``X-Request-Id`` request header: proxies
and load balancers set that header with ids of their own."""

from __future__ import annotations

import logging
import math
from typing import Any

import msgspec
from aiohttp import web

from tierroute.api.auth import authenticate
from tierroute.api.errors import error_response, read_body
from tierroute.api.keys import GATEWAY
from tierroute.errors import FeedbackUnavailable, InvalidRequest, RequestNotFound, TierrouteError
from tierroute.usage.feedback import give_feedback

log = logging.getLogger("tierroute")

MAX_REQUEST_ID = 200
MAX_COMMENT = 4000
FIELDS = ("request_id", "score", "comment")


class Feedback(msgspec.Struct, kw_only=True):
    request_id: str
    score: float
    comment: str | None = None


def _missing(name: str) -> InvalidRequest:
    return InvalidRequest(f"Missing required parameter: '{name}'.", param=name)


def parse_feedback(raw: bytes) -> Feedback:
    """Validate the body, naming the field at fault the way OpenAI does."""
    if not raw.strip():
        raise InvalidRequest('The request body is empty: send JSON like {"request_id": "req_...", "score": 1}.',
                             param=None, code="invalid_json")
    try:
        body: Any = msgspec.json.decode(raw)
    except msgspec.DecodeError as e:
        raise InvalidRequest(f"The request body is not valid JSON: {e}", param=None, code="invalid_json") from None
    if not isinstance(body, dict):
        raise InvalidRequest("The request body must be a JSON object with `request_id` and `score`.", param=None)
    for name in body:
        if name not in FIELDS:
            raise InvalidRequest(f"Unrecognized request argument supplied: {name} (feedback takes "
                                 f"{', '.join(FIELDS)}).", param=name)
    rid = body.get("request_id")
    if rid is None:
        raise _missing("request_id")
    if not isinstance(rid, str) or not rid.strip() or len(rid) > MAX_REQUEST_ID:
        raise InvalidRequest(f"'request_id' must be the X-Request-Id of an answer (a non-empty string of at most "
                             f"{MAX_REQUEST_ID} characters).", param="request_id")
    score = body.get("score")
    if score is None:
        raise _missing("score")
    if isinstance(score, bool) or not isinstance(score, int | float) or not math.isfinite(score) \
            or not 0 <= score <= 1:
        raise InvalidRequest(f"'score' must be a number from 0 (bad answer) to 1 (good answer); got {score!r}.",
                             param="score")
    comment = body.get("comment")
    if comment is not None and (not isinstance(comment, str) or len(comment) > MAX_COMMENT):
        raise InvalidRequest(f"'comment' must be a string of at most {MAX_COMMENT} characters.", param="comment")
    return Feedback(request_id=rid.strip(), score=float(score), comment=comment)


async def feedback(request: web.Request) -> web.Response:
    gw = request.app[GATEWAY]
    try:
        caller = authenticate(request, gw)
        fb = parse_feedback(await read_body(request))
        if gw.usage.store is None:
            raise RequestNotFound("Feedback is kept with the usage records, and usage storage is off in this "
                                  "gateway's config (usage.enabled: false).", param=None, code="usage_disabled")
        try:
            given = await give_feedback(gw.usage, request_id=fb.request_id, caller_key_id=caller.id if caller else None,
                                        score=fb.score, comment=fb.comment)
        except Exception as e:  # the store is down: say so, never a traceback
            log.warning("feedback not stored: %s: %s", type(e).__name__, e)
            raise FeedbackUnavailable("The usage store is unavailable, so the feedback was not stored; "
                                      "try again shortly.") from None
        if given is None:
            raise RequestNotFound(f"No request with id '{fb.request_id}' (use the X-Request-Id header of an answer "
                                  "made with this key).", param="request_id")
    except TierrouteError as e:
        return error_response(e)
    return web.json_response({"object": "feedback", "request_id": fb.request_id, "score": fb.score,
                              "comment": fb.comment, "replaced": given > 1})
