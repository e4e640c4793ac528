"""The provider simulator: a real HTTP server speaking OpenAI's, Anthropic's and Gemini's wire formats,
so the gateway, its tests, the benchmarks and the offline demo run without the real vendors.

Nothing in ``tierroute`` outside this package knows it exists. Public names:
``tierroute.sim.config.SimConfig``, ``load_sim_config(path | None)``, ``config_from_dict(data, source)``,
``tierroute.sim.server.create_app(config)``, ``start_background(config, host, port) -> SimHandle``
(``.port``, ``.base_url``, ``.state``, ``await .close()``), and ``run(host, port, config_path)``
(``tierroute simulate``; also ``python -m tierroute.sim``).

Endpoints (one root; any model name is served)
---------------------------------------------
OpenAI      POST /v1/chat/completions, POST /v1/responses (Responses API, JSON and SSE),
            POST /v1/embeddings, GET /v1/models[/{id}] (key: ``Authorization: Bearer``)
Anthropic   POST /v1/messages, POST /v1/messages/count_tokens (``?beta=true`` too), GET /v1/models
            with an ``anthropic-version`` header (key: ``x-api-key`` or ``Authorization: Bearer``)
Gemini      POST /v1beta/models/{model}:generateContent | :streamGenerateContent?alt=sse |
            :countTokens | :embedContent | :batchEmbedContents, GET /v1beta/models[/{model}]
            (``/v1/models/{model}:...`` too; key: ``x-goog-api-key`` or ``?key=``)
Control     GET /_sim/stats -> {"models": {name: {"requests", "ok", "errors": {"429": n, ...}}}}
            POST /_sim/faults {"model": "name" | "*", "faults": {...}} (merged into the config's)
            POST /_sim/reset (stats, run-time faults, fault RNGs, rate windows, recent requests)
            POST /_sim/reset also forgets the prompt cache
            GET /_sim/requests -> {"requests": [...]}: the last 100 requests as received (method,
            path, query, path_qs, dialect, model, headers, header_list, body, raw_body,
            raw_body_base64, status, time; see ``recording.py``). No auth on /_sim/*.

Error keys in the stats are the HTTP status the client saw (``"429"``, ``"503"``, ...), or the fault
acted out on a 200: ``timeout`` (answered late), ``stream_cut``, ``stream_error``, ``malformed``.

Config (YAML; ``example.yaml`` beside this file shows every key with its default)
-----------------------------------------------------------------------------------
    seed: 42                 # answers and fault draws are functions of it
    api_keys: []             # empty: any non-empty key is accepted
    defaults: {SETTINGS}     # for every model
    models: {NAME_OR_PATTERN: {SETTINGS}}   # exact name first, then the first fnmatch pattern

SETTINGS: ``latency_ms`` (time to first byte), ``tokens_per_s`` (stream pacing and non-stream
generation time; 0 = none), ``chunk_tokens`` (tokens per streamed chunk), ``context_window``
(tokens; a longer prompt gets the dialect's context-length error; 128000, but a family's own
window for claude-* 200k, gemini-* 1,048,576, gpt-4.1* 1,047,576, o1* / o3* / o4* 200k unless
``defaults`` sets one; see ``config.FAMILY_WINDOWS``), ``max_output_tokens`` (the cap
when the request sets none), ``vision`` (false: an image is a 400), ``embedding_dim`` (default
1536 OpenAI, 768 Gemini), ``rpm`` / ``tpm`` (a real fixed-window limit, reported in the
rate-limit headers), and ``faults``: the rates ``429``, ``500``, ``503``, ``529`` (503 outside
Anthropic), ``timeout`` (hang ``hang_s``, then answer), ``stream_cut`` (drop the connection after
``stream_cut_after`` chunks of model output; a non-stream body is cut half-way), ``stream_error``
(the dialect's mid-stream error event after ``stream_cut_after`` output chunks; a 500 / Anthropic
529 when not streaming), ``malformed`` (200 with truncated JSON; a stream's first event is cut),
plus ``down`` (every request 503) and ``retry_after_s``. A bad file raises ``ValueError`` naming the file and the key.

Faults are drawn from a per-model RNG seeded by (seed, model): the same requests in the same
order meet the same faults. Answers are a function of (seed, model, prompt, request seed):
``[model] answer to: <start of the last user turn>`` then sentences, their number depending on
the prompt; python code in a fenced block when the prompt asks for code; JSON in JSON mode (a
minimal instance of the schema when one is given); a tool call only when the last user turn names
an offered tool as a word, asks for one with ``[[sim:call:...]]``, or ``tool_choice`` forces one,
and once results come back, text quoting them (``The tool returned: <result>``); a thinking block /
reasoning item first when thinking or reasoning is asked. Tokens are ``ceil(chars / 4)`` (an image
counts 85). Prompt caching is modelled simply (``cache.py``): Anthropic ``cache_control`` prefixes
are written, then read within their TTL; OpenAI prompts of 1024+ tokens report a cached prefix
(128-token steps) seen for the model in the last 5 minutes.

Directives (anywhere in the prompt text; ``@model`` scopes one to a model or fnmatch pattern)
---------------------------------------------------------------------------------------------
    [[sim:refuse]]   "I'm sorry, but I can't help with that." (OpenAI json_schema: message.refusal)
    [[sim:empty]]    empty content          [[sim:badjson]]  invalid JSON even in JSON mode
    [[sim:badcode]]  a python block that does not parse
    [[sim:long]]     runs into max tokens (finish_reason length / max_tokens / MAX_TOKENS)
    [[sim:notool]]   answer in text even when tools are offered
    [[sim:error=KIND]]  KIND: 429 500 503 529 timeout stream_cut stream_error malformed
                     context_length content_filter (OpenAI finish_reason content_filter,
                     Anthropic stop_reason refusal, Gemini finishReason SAFETY)
    [[sim:refuse@cheap-model]]  only when cheap-model answers
    [[sim:call:NAME {"json": "args"}]]  call tool NAME (if offered) with exactly these arguments
                     (the JSON may hold spaces, quotes and "]]"; no JSON: ``{}``); several of
                     them: parallel calls, or one per turn when parallel calls are disabled;
                     a result in the conversation ends the loop with a text answer
"""

from tierroute.sim.config import SimConfig, config_from_dict, load_sim_config

__all__ = ["SimConfig", "config_from_dict", "load_sim_config"]
