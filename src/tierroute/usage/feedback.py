"""Feedback on a request: a client's score (0..1) for the answer a request id got, stored next to the
request's usage record (the ``feedback`` table) for ``tierroute router train --from-usage``.

A virtual key gives feedback only on its own requests; the master key on any. A request id that is
not this caller's is reported exactly like one that does not exist, so tenants learn nothing about
each other's traffic. The last feedback on a request wins."""

from __future__ import annotations

import time
from typing import Any

from tierroute.usage.recorder import UsageRecorder


async def _owner(recorder: UsageRecorder, request_id: str) -> tuple[Any, ...] | None:
    """The request's row ``(key_id,)`` (key_id None for the master key), or None when not stored."""
    assert recorder.store is not None
    rows = await recorder.store.query(f"SELECT key_id FROM {recorder.store.table} WHERE request_id = ?",
                                      (request_id,))
    return tuple(rows[0]) if rows else None


async def find_request(recorder: UsageRecorder, request_id: str) -> tuple[Any, ...] | None:
    """Look the request up in the store, first writing out what the recorder still holds in memory if
    it is not there yet: records are written in batches, and a client may send feedback the moment
    its answer ends. (A request's record is queued before its response ends, streams included.)"""
    found = await _owner(recorder, request_id)
    if found is None:
        await recorder.flush()
        found = await _owner(recorder, request_id)
    return found


async def give_feedback(recorder: UsageRecorder, *, request_id: str, caller_key_id: str | None, score: float,
                        comment: str | None) -> int | None:
    """Store the caller's feedback on ``request_id``. ``caller_key_id`` None is the master key. Returns
    how many times feedback was given on the request (1 = first), or None when the request is unknown
    to this caller. Raises whatever the store raises when it is down."""
    assert recorder.store is not None
    found = await find_request(recorder, request_id)
    if found is None or (caller_key_id is not None and found[0] != caller_key_id):
        return None
    return await recorder.store.put_feedback(request_id, time.time(), caller_key_id, score, comment)
