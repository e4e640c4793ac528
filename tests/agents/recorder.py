"""A tiny recording model server for the agent tests: it records every request an agent sends
(method, path with query, headers, JSON body, whether it asked for a WebSocket upgrade) and plays
the model's side just enough for the agent to finish a turn:

- Anthropic Messages (``POST /v1/messages``, streamed or not) for Claude Code, ``count_tokens`` too;
- OpenAI Responses (``POST /v1/responses``, SSE) for the Codex CLI; a WebSocket upgrade there is
  refused with 426 so the agent falls back to HTTP (and the attempt is recorded);
- anything else: recorded and answered 404.

Its "model" follows the simulator's tool directive: a prompt holding
``[[sim:call:NAME {"json":"args"}]]`` gets a call of tool NAME with those arguments, and once the
conversation carries the tool result the answer quotes it verbatim. Otherwise it answers
``RECORDER_TEXT``. It runs on its own event loop in a thread, so blocking tests can use it.
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
import uuid
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

RECORDER_TEXT = "recorder-answer: hello from the recording server"
_CALL = re.compile(r"\[\[sim:call:([A-Za-z0-9_.:-]+)\s+(\{.*?\})\]\]", re.S)
SECRET_HEADERS = {"authorization", "x-api-key", "cookie", "proxy-authorization", "openai-api-key"}


@dataclass
class Recorded:
    method: str
    path: str  # with the query string
    headers: list[tuple[str, str]]
    body: Any  # parsed JSON, the raw text if not JSON, or None
    websocket_upgrade: bool = False

    def redacted(self) -> dict[str, Any]:
        """The request as a fixture: secret headers replaced by REDACTED."""
        return {
            "method": self.method,
            "path": self.path,
            "headers": {k.lower(): ("REDACTED" if k.lower() in SECRET_HEADERS else v) for k, v in self.headers},
            "websocket_upgrade": self.websocket_upgrade,
            "body": self.body,
        }


def _texts(content: Any) -> list[str]:
    """Every text of a message content (string or list of blocks / items), tool results included."""
    if isinstance(content, str):
        return [content]
    out: list[str] = []
    for part in content or []:
        if not isinstance(part, dict):
            continue
        for key in ("text", "output"):
            if isinstance(part.get(key), str):
                out.append(part[key])
        if "content" in part:
            out.extend(_texts(part["content"]))
    return out


def directive(prompt_text: str) -> tuple[str, dict[str, Any]] | None:
    m = _CALL.search(prompt_text)
    return (m.group(1), json.loads(m.group(2))) if m else None


@dataclass
class Recorder:
    host: str = "127.0.0.1"
    requests: list[Recorded] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._main, daemon=True)
        self.port = 0

    # --- lifecycle -------------------------------------------------------------------------------

    def _main(self) -> None:
        asyncio.set_event_loop(self._loop)
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        self._loop.run_until_complete(self._runner.setup())
        site = web.TCPSite(self._runner, self.host, 0)
        self._loop.run_until_complete(site.start())
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self._ready.set()
        self._loop.run_forever()

    def start(self) -> Recorder:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("recorder did not start")
        return self

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def model_requests(self, path_prefix: str) -> list[Recorded]:
        return [r for r in self.requests if r.path.split("?")[0] == path_prefix and not r.websocket_upgrade]

    # --- the model's side ------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode(errors="replace")
        upgrade = request.headers.get("Upgrade", "").lower() == "websocket"
        rec = Recorded(request.method, request.path_qs, list(request.headers.items()), body, upgrade)
        self.requests.append(rec)
        path = request.path
        if upgrade:
            return web.json_response({"error": {"message": "no websocket here"}}, status=426)
        if request.method == "POST" and path == "/v1/messages/count_tokens":
            return web.json_response({"input_tokens": max(1, len(raw) // 4)})
        if request.method == "POST" and path == "/v1/messages" and isinstance(body, dict):
            return await self._anthropic(request, body)
        if request.method == "POST" and path == "/v1/responses" and isinstance(body, dict):
            return await self._responses(request, body)
        return web.json_response({"error": {"type": "not_found", "message": f"no {path} here"}}, status=404)

    @staticmethod
    def _decide(prompt_text: str, tool_result: str | None, tool_names: set[str]) -> tuple[str, Any]:
        """("text", answer) or ("call", (name, args))."""
        if tool_result is not None:
            return "text", f"{RECORDER_TEXT}; the tool said: {tool_result.strip()}"
        d = directive(prompt_text)
        if d is not None and d[0] in tool_names:
            return "call", d
        return "text", RECORDER_TEXT

    # Anthropic Messages ---------------------------------------------------------------------------

    async def _anthropic(self, request: web.Request, body: dict[str, Any]) -> web.StreamResponse:
        messages = body.get("messages") or []
        last = messages[-1] if messages else {}
        tool_result = None
        if last.get("role") == "user" and isinstance(last.get("content"), list):
            results = [b for b in last["content"] if isinstance(b, dict) and b.get("type") == "tool_result"]
            if results:
                tool_result = "\n".join(_texts(results[-1].get("content")))
        prompt = "\n".join(t for m in messages if m.get("role") == "user" for t in _texts(m.get("content")))
        tools = {t.get("name") for t in body.get("tools") or [] if isinstance(t, dict)}
        kind, what = self._decide(prompt, tool_result, tools)
        if kind == "call":
            name, args = what
            block: dict[str, Any] = {"type": "tool_use", "id": "toolu_" + uuid.uuid4().hex[:24], "name": name,
                                     "input": args}
            stop = "tool_use"
        else:
            block = {"type": "text", "text": what}
            stop = "end_turn"
        msg = {"id": "msg_" + uuid.uuid4().hex[:24], "type": "message", "role": "assistant",
               "model": body.get("model", "recorder"), "content": [block], "stop_reason": stop,
               "stop_sequence": None, "usage": {"input_tokens": 10, "output_tokens": 5}}
        if not body.get("stream"):
            return web.json_response(msg)
        resp = await _sse_start(request)
        start = dict(msg, content=[], stop_reason=None, usage={"input_tokens": 10, "output_tokens": 0})
        await _event(resp, "message_start", {"type": "message_start", "message": start})
        if block["type"] == "text":
            await _event(resp, "content_block_start",
                         {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}})
            await _event(resp, "content_block_delta", {"type": "content_block_delta", "index": 0,
                                                       "delta": {"type": "text_delta", "text": block["text"]}})
        else:
            await _event(resp, "content_block_start", {"type": "content_block_start", "index": 0,
                                                       "content_block": dict(block, input={})})
            await _event(resp, "content_block_delta", {
                "type": "content_block_delta", "index": 0,
                "delta": {"type": "input_json_delta", "partial_json": json.dumps(block["input"])}})
        await _event(resp, "content_block_stop", {"type": "content_block_stop", "index": 0})
        await _event(resp, "message_delta", {"type": "message_delta",
                                             "delta": {"stop_reason": stop, "stop_sequence": None},
                                             "usage": {"output_tokens": 5}})
        await _event(resp, "message_stop", {"type": "message_stop"})
        await resp.write_eof()
        return resp

    # OpenAI Responses -----------------------------------------------------------------------------

    async def _responses(self, request: web.Request, body: dict[str, Any]) -> web.StreamResponse:
        items = body.get("input") or []
        if isinstance(items, str):
            items = [{"type": "message", "role": "user", "content": items}]
        tool_result = None
        if items and isinstance(items[-1], dict) and str(items[-1].get("type", "")).endswith("_call_output"):
            out = items[-1].get("output")
            tool_result = out if isinstance(out, str) else "\n".join(_texts(out))
        prompt = "\n".join(t for i in items if isinstance(i, dict) and i.get("role") == "user"
                           for t in _texts(i.get("content")))
        tools = {t.get("name") for t in body.get("tools") or [] if isinstance(t, dict)}
        kind, what = self._decide(prompt, tool_result, tools)
        rid = "resp_" + uuid.uuid4().hex[:24]
        if kind == "call":
            name, args = what
            item: dict[str, Any] = {"type": "function_call", "id": "fc_" + uuid.uuid4().hex[:24],
                                    "call_id": "call_" + uuid.uuid4().hex[:24], "name": name,
                                    "arguments": json.dumps(args), "status": "completed"}
        else:
            item = {"type": "message", "id": "msg_" + uuid.uuid4().hex[:24], "role": "assistant",
                    "status": "completed", "content": [{"type": "output_text", "text": what, "annotations": []}]}
        base = {"id": rid, "object": "response", "created_at": 0, "model": body.get("model", "recorder"),
                "output": [], "status": "in_progress"}
        usage = {"input_tokens": 10, "input_tokens_details": {"cached_tokens": 0}, "output_tokens": 5,
                 "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": 15}
        resp = await _sse_start(request)
        seq = iter(range(1000))
        await _event(resp, "response.created", {"type": "response.created", "sequence_number": next(seq),
                                                "response": base})
        added = dict(item, status="in_progress")
        if item["type"] == "message":
            added["content"] = []
        await _event(resp, "response.output_item.added", {"type": "response.output_item.added",
                                                          "sequence_number": next(seq), "output_index": 0,
                                                          "item": added})
        if item["type"] == "message":
            await _event(resp, "response.output_text.delta", {
                "type": "response.output_text.delta", "sequence_number": next(seq), "item_id": item["id"],
                "output_index": 0, "content_index": 0, "delta": item["content"][0]["text"]})
        await _event(resp, "response.output_item.done", {"type": "response.output_item.done",
                                                         "sequence_number": next(seq), "output_index": 0,
                                                         "item": item})
        await _event(resp, "response.completed", {"type": "response.completed", "sequence_number": next(seq),
                                                  "response": dict(base, status="completed", output=[item],
                                                                   usage=usage)})
        await resp.write_eof()
        return resp


async def _sse_start(request: web.Request) -> web.StreamResponse:
    resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
    await resp.prepare(request)
    return resp


async def _event(resp: web.StreamResponse, name: str, data: dict[str, Any]) -> None:
    await resp.write(f"event: {name}\ndata: {json.dumps(data)}\n\n".encode())
