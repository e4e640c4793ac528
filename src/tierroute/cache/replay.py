"""A cached answer replayed as a stream of ``chat.completion.chunk`` objects."""

from __future__ import annotations

from tierroute.types import ChatChunk, ChatResponse, ChunkChoice, Delta, ToolCallDelta, Usage

_PIECE = 48  # characters of content per chunk: small enough to look like a stream, few enough to be cheap


def replay_chunks(resp: ChatResponse, include_usage: bool) -> list[ChatChunk]:
    """The chunks a streaming client would have received for ``resp``: per choice a role chunk,
    content in pieces, tool calls, and a final chunk with the finish reason; then, if asked for,
    a usage chunk with ``choices == []``."""
    out: list[ChatChunk] = []

    def chunk(choice: ChunkChoice) -> None:
        out.append(ChatChunk(id=resp.id, created=resp.created, model=resp.model, choices=[choice],
                             system_fingerprint=resp.system_fingerprint))

    for ch in resp.choices:
        msg = ch.message
        chunk(ChunkChoice(index=ch.index, delta=Delta(role="assistant", content="" if msg.content else None)))
        text = msg.content or ""
        for i in range(0, len(text), _PIECE):
            chunk(ChunkChoice(index=ch.index, delta=Delta(content=text[i : i + _PIECE])))
        if msg.refusal:
            chunk(ChunkChoice(index=ch.index, delta=Delta(refusal=msg.refusal)))
        for n, tc in enumerate(msg.tool_calls or []):
            chunk(ChunkChoice(index=ch.index, delta=Delta(tool_calls=[ToolCallDelta(
                index=n, id=tc.id, type="function",
                function={"name": tc.function.name, "arguments": tc.function.arguments})])))
        chunk(ChunkChoice(index=ch.index, delta=Delta(), finish_reason=ch.finish_reason or "stop"))
    if include_usage:
        u = resp.usage
        out.append(ChatChunk(id=resp.id, created=resp.created, model=resp.model, choices=[],
                             usage=Usage(u.prompt_tokens, u.completion_tokens, u.total_tokens),
                             system_fingerprint=resp.system_fingerprint))
    return out
