"""One chat request through the gateway, whatever dialect it arrived in.

cache lookup -> plan -> execute (with cascade) -> usage record + cache store. The dialect handlers
(``api/chat.py`` for OpenAI, ``api/messages.py`` for Anthropic) only decode the body and encode
what ``Exchange.run`` returns: a ``ChatResponse``, or a ``ChunkRelay`` for a stream.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

import msgspec
from aiohttp import web

from tierroute.api.admission import admit
from tierroute.api.auth import authenticate
from tierroute.api.errors import read_body
from tierroute.api.inbound import Decoder, attach, parse_object
from tierroute.api.keys import GATEWAY
from tierroute.api.relay import CachedRelay, ChunkRelay
from tierroute.cache import CacheContext, parse_cache_controls, replay_chunks
from tierroute.errors import ClientClosed, TierrouteError
from tierroute.execution.run import Cancelled, Done, Failed
from tierroute.routing import check_answer, classify_fast, estimate_prompt_tokens, judge_answer, parse_hints
from tierroute.types import (
    AttemptRecord,
    ChatRequest,
    ChatResponse,
    Plan,
    RouteHints,
    Usage,
    UsageEvent,
)

if TYPE_CHECKING:
    from tierroute.gateway import Gateway
    from tierroute.keys import KeyInfo

log = logging.getLogger("tierroute")


# Detached cache stores, referenced until done so the event loop does not drop them.
_background: set[asyncio.Task[None]] = set()


def new_request_id() -> str:
    return "req_" + os.urandom(12).hex()


class Exchange:
    def __init__(self, gw: Gateway, headers: Mapping[str, str], req: ChatRequest, endpoint: str,
                 caller: KeyInfo | None) -> None:
        self.gw = gw
        self.req = req
        self.endpoint = endpoint
        self.caller = caller
        self.identity = caller.id if caller else "master"
        self.request_id = new_request_id()
        self.t0 = time.perf_counter()
        self.ts = time.time()
        self.hints = parse_hints(headers, req.metadata)
        self.cache_ctx: CacheContext | None = None
        if gw.cache is not None and (caller is None or caller.cache):
            route = req.model if self.hints.task is None else f"{req.model}|{self.hints.task}|{self.hints.complexity}"
            self.cache_ctx = CacheContext(tenant=self.identity, route=route, controls=parse_cache_controls(headers))
        self.headers: dict[str, str] = {"X-Request-Id": self.request_id}
        self.plan: Plan | None = None
        self.escalation: str | None = None
        self.spent_before = 0.0  # cost of cheap answers a cascade escalated away from

    def _admit(self, caller: KeyInfo) -> None:
        """A virtual key's limits (``admission.admit``), then its default willingness to pay."""
        admit(self.gw, caller, self.req.model)
        if self.hints.willingness_to_pay is None and caller.willingness_to_pay is not None:
            self.hints.willingness_to_pay = caller.willingness_to_pay

    # ------------------------------------------------------------------ the request path

    async def run(self) -> ChatResponse | ChunkRelay | CachedRelay:
        gw, req = self.gw, self.req
        if self.caller is not None:
            try:
                self._admit(self.caller)
            except TierrouteError as e:  # a refusal is a request too: it gets its usage record
                self._record_failure(e, [])
                raise
        if self.cache_ctx is not None:
            hit = await gw.cache.lookup(req, self.cache_ctx)  # type: ignore[union-attr]
            if hit is not None:
                return self._from_cache(hit)
            self.headers["X-Tierroute-Cache"] = "miss"
        try:
            vector = self.cache_ctx.vector if self.cache_ctx is not None else None
            plan = self.plan = await gw.router.plan_async(req, self.hints, vector=vector)
        except TierrouteError as e:
            self._record_failure(e, [])
            raise
        deadline = time.monotonic() + gw.settings.gateway.server.request_timeout_s
        # The quota reservation, reconciled with the real usage after the answer: the prompt and the
        # output the request will likely write, not its cap (agents ask for 128k and write 2k).
        expected = gw.routing_cfg.expected_output_tokens
        est = estimate_prompt_tokens(req) + min(req.output_limit() or expected, 4 * expected)
        try:
            if req.stream:
                done_s = await gw.executor.open_stream(plan, req, deadline, est)
                self._set_headers(done_s)
                return ChunkRelay(self, done_s)
            done = await gw.executor.complete(plan, req, deadline, est)
            if plan.cascade:
                done = await self._cascade(plan, done, deadline, est)
        except Failed as f:
            self._record_failure(f.error, f.attempts)
            raise f.error from None
        except Cancelled as c:  # the client left: the request is recorded, with what it spent so far
            self._record_failure(ClientClosed("The client disconnected before the answer was complete."),
                                 c.attempts)
            raise
        self._set_headers(done)
        resp = done.value
        # The body names the catalog model (as OpenRouter does), the same on a miss and a cache hit.
        resp.model = done.deployment.model
        await gw.executor.finish(done, resp.usage.total_tokens)
        await gw.router.note_answer(req, done.deployment, resp.usage, plan)  # the session's cache is warm there
        self._record(done.deployment.model, done, resp.usage, None,
                     answer=resp.choices[0].message.content if resp.choices else None)
        if self.cache_ctx is not None:
            self._store(resp)
        return resp

    def _store(self, resp: ChatResponse) -> None:
        """Cache the answer after it is sent: storing embeds the question, which the client need not wait for."""
        task = asyncio.create_task(self.gw.cache.store(self.req, self.cache_ctx, resp))  # type: ignore[union-attr,arg-type]
        _background.add(task)
        task.add_done_callback(_background.discard)

    async def _cascade(self, plan: Plan, done: Done[ChatResponse], deadline: float, est: int) -> Done[ChatResponse]:
        """Escalate to the next (stronger) model while the answer fails its checks."""
        task = plan.classification.task if plan.classification else "chat"
        order = [a.deployment.model for a in plan.attempts]
        while True:
            pos = order.index(done.deployment.model)
            later = [a for a in plan.attempts[pos + 1:] if a.deployment.model != done.deployment.model]
            # The last model's answer stands whatever it is: judging it would only cost a judge call.
            if not later or (reason := await self._verdict(done, task, deadline)) is None:
                break
            # The cheap answer was paid for: its cost stays on this request's record.
            u = done.value.usage
            self.spent_before += self.gw.catalog.models[done.deployment.model].cost_of(u)
            await self.gw.executor.finish(done, u.total_tokens)
            self.escalation = f"{done.deployment.model}: {reason}"
            log.info("cascade: escalating from %s (%s)", done.deployment.model, reason)
            sub = Plan(requested_model=plan.requested_model, route=plan.route, attempts=later,
                       classification=plan.classification)
            nxt = await self.gw.executor.complete(sub, self.req, deadline, est)
            nxt.attempts = done.attempts + nxt.attempts
            done = nxt
        if self.escalation:
            self.headers["X-Tierroute-Escalated"] = self.escalation[:200]
        return done

    async def _verdict(self, done: Done[ChatResponse], task: str, deadline: float) -> str | None:
        """Why this cascade answer must be escalated: the built-in checks, then the judge model if one
        is configured."""
        reason = check_answer(self.req, done.value, task)
        judge = self.gw.routing_cfg.cascade.judge_model
        if reason is not None or judge is None:
            return reason

        async def send(jreq: ChatRequest) -> ChatResponse:
            jplan = await self.gw.router.plan_async(jreq, RouteHints())
            jdone = await self.gw.executor.complete(jplan, jreq, deadline, estimate_prompt_tokens(jreq) + 8)
            await self.gw.executor.finish(jdone, jdone.value.usage.total_tokens)
            u = jdone.value.usage  # the judge's own cost belongs to this request
            self.spent_before += self.gw.catalog.models[jdone.deployment.model].cost_of(u)
            return jdone.value

        return await judge_answer(self.req, done.value, judge, send,
                                  max_tokens=self.gw.routing_cfg.cascade.judge_max_tokens)

    def _from_cache(self, hit: Any) -> ChatResponse | CachedRelay:
        self.headers["X-Tierroute-Cache"] = f"hit-{hit.kind}"
        if hit.similarity is not None:
            self.headers["X-Tierroute-Cache-Similarity"] = f"{hit.similarity:.4f}"
        self.headers["X-Tierroute-Model"] = hit.model
        self.headers["X-Tierroute-Route"] = "cache"
        self.headers["X-Tierroute-Attempts"] = "0"
        m = self.gw.catalog.models.get(hit.model)
        saved = m.cost(hit.prompt_tokens, hit.completion_tokens) if m else 0.0
        # No plan was made, so classify here (the fast rules layer, well under a millisecond) for the
        # per-task reports.
        c = classify_fast(self.req, self.hints)
        self._emit(UsageEvent(
            request_id=self.request_id, ts=self.ts, key_id=self._key_id(), endpoint=self.endpoint,
            requested_model=self.req.model, model=hit.model, provider=m.provider if m else None, deployment=None,
            route="cache", task=c.task, complexity=c.complexity, prompt_tokens=hit.prompt_tokens,
            completion_tokens=hit.completion_tokens, cost_usd=0.0, baseline_model=self.gw.baseline.name,
            baseline_cost_usd=self.gw.baseline.cost(hit.prompt_tokens, hit.completion_tokens),
            latency_ms=(time.perf_counter() - self.t0) * 1000, stream=self.req.stream, cache=f"hit-{hit.kind}",
            cache_similarity=hit.similarity, saved_usd=saved),
            hit.response.choices[0].message.content if hit.response.choices else None)
        if self.req.stream:
            include = bool(self.req.stream_options and self.req.stream_options.include_usage)
            return CachedRelay(replay_chunks(hit.response, include))
        return hit.response

    # ------------------------------------------------------------------ accounting

    def _set_headers(self, done: Done[Any]) -> None:
        dep = done.deployment
        h = self.headers
        h["X-Tierroute-Model"] = dep.model
        h["X-Tierroute-Provider"] = dep.provider
        h["X-Tierroute-Route"] = self.plan.route if self.plan else ""
        h["X-Tierroute-Attempts"] = str(len(done.attempts))
        dropped = list(done.info.dropped)
        inbound = self.req.inbound
        if not done.info.forwarded and inbound is not msgspec.UNSET:
            dropped.extend(inbound.untranslatable)  # type: ignore[union-attr]
        if dropped:
            h["X-Tierroute-Dropped"] = ", ".join(dict.fromkeys(dropped))[:2000]

    def _key_id(self) -> str | None:
        return None if self.identity == "master" else self.identity

    def _classification(self) -> tuple[str | None, float | None]:
        c = self.plan.classification if self.plan else None
        if c is not None:
            return c.task, c.complexity
        return self.hints.task, self.hints.complexity

    def costs(self, model: str, u: Usage) -> tuple[float, float]:
        """(this request's cost, the premium-only baseline's): each priced with the provider cache's
        reads and writes at their own rates, the baseline as if it had cached the same tokens, so the
        comparison is fair. The cost includes cheap answers a cascade paid for and left behind."""
        return self.gw.catalog.models[model].cost_of(u) + self.spent_before, self.gw.baseline.cost_of(u)

    def _record(self, model: str, done: Done[Any], u: Usage, error: TierrouteError | None,
                *, ttft_ms: float | None = None, answer: str | None = None) -> None:
        m = self.gw.catalog.models[model]
        task, complexity = self._classification()
        fallbacks = sum(1 for a in done.attempts if a.outcome != "ok")
        cost, baseline = self.costs(model, u)
        self.headers["X-Tierroute-Cost-USD"] = f"{cost:.8f}"
        self.headers["X-Tierroute-Baseline-USD"] = f"{baseline:.8f}"
        self._emit(UsageEvent(
            request_id=self.request_id, ts=self.ts, key_id=self._key_id(), endpoint=self.endpoint,
            requested_model=self.req.model, model=model, provider=done.deployment.provider,
            deployment=done.deployment.id, route=self.plan.route if self.plan else None, task=task,
            complexity=complexity, prompt_tokens=u.prompt_tokens, completion_tokens=u.completion_tokens,
            cache_read_tokens=u.cache_read(), cache_write_tokens=u.cache_write(),
            cost_usd=cost, nocache_cost_usd=m.cost(u.prompt_tokens, u.completion_tokens) + self.spent_before,
            baseline_model=self.gw.baseline.name, baseline_cost_usd=baseline,
            latency_ms=(time.perf_counter() - self.t0) * 1000, ttft_ms=ttft_ms, stream=self.req.stream,
            cache="off" if self.cache_ctx is None else "miss", attempts=list(done.attempts), fallbacks=fallbacks,
            escalated=self.escalation is not None,
            escalation_reason=self.escalation, status=error.status if error else 200,
            error_class=type(error).__name__ if error else None), answer)

    def _record_failure(self, error: Exception, attempts: list[AttemptRecord]) -> None:
        task, complexity = self._classification()
        status = error.status if isinstance(error, TierrouteError) else 500
        self._emit(UsageEvent(
            request_id=self.request_id, ts=self.ts, key_id=self._key_id(), endpoint=self.endpoint,
            requested_model=self.req.model, model=None, provider=None, deployment=None,
            route=self.plan.route if self.plan else None, task=task, complexity=complexity,
            baseline_model=self.gw.baseline.name, latency_ms=(time.perf_counter() - self.t0) * 1000,
            cost_usd=self.spent_before,  # cheap cascade answers already paid for stay on the record
            stream=self.req.stream, cache="off" if self.cache_ctx is None else "miss", attempts=attempts,
            fallbacks=max(0, len(attempts) - 1), status=status, error_class=type(error).__name__))
        self.headers["X-Tierroute-Attempts"] = str(len(attempts))

    def _emit(self, event: UsageEvent, answer: str | None = None) -> None:
        if self.caller is not None and event.cost_usd:
            self.gw.keys.add_spend(self.caller.id, self.caller.budget_period, event.cost_usd)
        content = None
        if self.gw.usage_cfg.log_content:  # off by default: prompts and answers are the user's data
            content = msgspec.json.encode({"messages": self.req.messages, "answer": answer}).decode()
        self.gw.usage.record(event, content)


Result = ChatResponse | ChunkRelay | CachedRelay | TierrouteError


Prepare = Callable[[dict[str, Any], "KeyInfo | None"], Awaitable[dict[str, Any]]]


async def run_exchange(request: web.Request, decode: Decoder, endpoint: str, dialect: str,
                       prepare: Prepare | None = None) -> tuple[dict[str, str], ChatRequest | None, Result]:
    """Authenticate, decode and run one chat request for a dialect handler. ``prepare`` may rewrite
    the body first, knowing the caller (the Responses API expands ``previous_response_id``). Returns
    the response headers (request id, who answered, attempts: on errors too), the request, and the
    answer or the error to send."""
    gw = request.app[GATEWAY]
    headers: dict[str, str] = {}
    req = None
    try:
        caller = authenticate(request, gw)
        doc = parse_object(await read_body(request))
        if prepare is not None:
            doc = await prepare(doc, caller)
        req, untranslatable = decode(doc, request)
        attach(req, dialect, doc, request, untranslatable)
        ex = Exchange(gw, request.headers, req, endpoint, caller)
        headers = ex.headers
        return headers, req, await ex.run()
    except TierrouteError as e:
        return headers, req, e
