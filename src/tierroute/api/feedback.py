"""POST /v1/feedback: a client scores the answer a request got.

Body: ``{"request_id": "req_...", "score": 0..1, "comment": "..."}`` (``comment`` optional), where
``request_id`` is the ``X-Request-Id`` header of the answer. Keys as on the model endpoints: a
virtual key may score only its own requests (anyone else's id is a 404, like an unknown one); the
master key any. Scoring a request again replaces the earlier score (``"replaced": true``).

The request id is taken from the body only, never from an ``X-Request-Id`` request header: proxies
and load balancers set that header with ids of their own."""

from __future__ import annotations

import logging
from typing import Annotated

import msgspec
from aiohttp import web
from msgspec import Meta

from tierroute.api.auth import authenticate
from tierroute.api.errors import error_response, invalid_body, read_body
from tierroute.api.keys import GATEWAY
from tierroute.errors import FeedbackUnavailable, RequestNotFound, TierrouteError
from tierroute.usage.feedback import give_feedback

log = logging.getLogger("tierroute")

MAX_REQUEST_ID = 200
MAX_COMMENT = 4000


class Feedback(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    # The X-Request-Id of an answer: not empty, not blank.
    request_id: Annotated[str, Meta(min_length=1, max_length=MAX_REQUEST_ID, pattern=r"\S")]
    score: Annotated[float, Meta(ge=0, le=1)]  # 0 = bad answer, 1 = good answer
    comment: Annotated[str, Meta(max_length=MAX_COMMENT)] | None = None


_decode = msgspec.json.Decoder(Feedback).decode


def parse_feedback(raw: bytes) -> Feedback:
    """Validate the body like every other endpoint's (``invalid_body`` names the field at fault)."""
    try:
        fb = _decode(raw)
    except (msgspec.ValidationError, msgspec.DecodeError) as e:
        raise invalid_body(e) from None
    return msgspec.structs.replace(fb, request_id=fb.request_id.strip())


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
