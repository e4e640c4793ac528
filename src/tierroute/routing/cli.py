"""``tierroute route`` (dry run: which model and why; nothing is sent) and ``tierroute router
train`` / ``eval`` (the router trained on your own labelled data, or on the gateway's usage log
joined with feedback and cascade outcomes: ``--from-usage``)."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import click
import msgspec

from tierroute.errors import TierrouteError
from tierroute.types import ChatRequest, Plan, RouteHints

# ---------------------------------------------------------------------------- route (dry run)


def _settings(config: str | None) -> Any:
    from tierroute.config.loader import ConfigError, load_settings

    try:
        return load_settings(config)
    except ConfigError as e:
        raise click.ClickException(f"configuration error\n{e}") from None


def _requests_from_file(path: str, model: str) -> list[tuple[str, ChatRequest, dict | None]]:
    out = []
    opener: Any = open
    if path.endswith(".gz"):
        import gzip
        opener = gzip.open
    with opener(path, "rt", encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise click.ClickException(f"{path}:{lineno}: not JSON ({e.msg})") from None
            if isinstance(row, dict) and "prompt" in row and "messages" not in row:
                row = {"messages": [{"role": "user", "content": str(row["prompt"])}], **row}
            if not isinstance(row, dict):
                raise click.ClickException(f"{path}:{lineno}: expected an object with `messages` or `prompt`")
            body = {k: v for k, v in row.items() if k not in ("id", "source", "models", "prompt")}
            body.setdefault("model", model)
            try:
                req = msgspec.convert(body, ChatRequest, strict=False)
            except msgspec.ValidationError as e:
                raise click.ClickException(f"{path}:{lineno}: {e}") from None
            out.append((str(row.get("id", lineno)), req, row.get("metadata")))
    return out


def _plan_dict(label: str, req: ChatRequest, plan: Plan | None, error: str | None, tokens: int) -> dict:
    d: dict[str, Any] = {"id": label, "model": req.model, "prompt_tokens_est": tokens}
    if error is not None:
        d["error"] = error
        return d
    assert plan is not None
    d.update(msgspec.to_builtins(plan))
    for a in d["attempts"]:  # a dry run shows where, never with which key
        dep = a.pop("deployment")
        a["deployment"] = dep["id"]
        a["model"] = dep["model"]
        a["provider"] = dep["provider"]
    return d


def _print_table(d: dict) -> None:
    click.echo(f"\n== {d['id']}  model={d['model']}  prompt ~{d['prompt_tokens_est']} tokens")
    if "error" in d:
        click.echo(f"   error: {d['error']}")
        return
    c = d.get("classification")
    if c:
        click.echo(f"   task: {c['task']} (confidence {c['task_confidence']:.2f}, {c['source']})   "
                   f"complexity: {c['complexity']:.2f}")
        if c["reasons"]:
            click.echo("   why: " + "; ".join(c["reasons"][:8]))
    click.echo(f"   route: {d['route']}" + ("   (cascade)" if d.get("cascade") else ""))
    costs = {x["model"]: x.get("est_cost_usd") for x in d["candidates"] if x["kept"]}
    click.echo(f"   {'#':>2}  {'step':>4}  {'deployment':34} {'est. cost':>10}  reason")
    for i, a in enumerate(d["attempts"]):
        cost = costs.get(a["model"])
        cs = f"${cost:.5f}" if cost is not None else "-"
        click.echo(f"   {i:>2}  {a.get('step', 0):>4}  {a['deployment']:34} {cs:>10}  {a['reason']}")
    for x in d["candidates"]:  # the session's prompt cache, per candidate (cache-aware cost)
        note = next((p for p in x["reason"].split("; ") if p.startswith(("warm cache on ", "cold: "))), None)
        if x["kept"] and note:
            cs = f"${x['est_cost_usd']:.5f}" if x.get("est_cost_usd") is not None else "-"
            click.echo(f"   cache  {x['model']:28} {cs:>10}  {note}")
    dropped = [x for x in d["candidates"] if not x["kept"]]
    for x in dropped:
        click.echo(f"   dropped {x['model']}: {x['reason']}")


@click.command("route")
@click.argument("prompt", required=False)
@click.option("--file", "file", type=click.Path(exists=True, dir_okay=False),
              help="JSONL of requests (chat bodies with `messages`, or {\"prompt\": ...}); .gz works")
@click.option("--model", default="auto", show_default=True, help="model, alias, tier or auto")
@click.option("--task", default=None, help="hint: documentation|coding|architecture|reasoning|vision|chat")
@click.option("--complexity", default=None, help="hint: 0..1 or low|medium|high")
@click.option("--willingness-to-pay", "wtp", default=None, help="hint: share of strong-model calls, 0..1")
@click.option("--image", "image", default=None, help="attach an image URL to the prompt")
@click.option("--fast", is_flag=True, help="only the fast classifier (no embedding, no trained router)")
@click.option("--json", "as_json", is_flag=True, help="print JSON (one object per request, one per line)")
@click.option("--session", default=None, help="the requests' session id (as X-Claude-Code-Session-Id or "
              "prompt_cache_key would set it); with --warm, dry-runs session affinity")
@click.option("--warm", "warm", multiple=True, metavar="DEPLOYMENT:TOKENS[:TTL_S]",
              help="pretend the session's prompt cache holds TOKENS tokens on DEPLOYMENT (e.g. "
                   "anthropic/claude-sonnet-4-5:42000), warm for TTL_S seconds (default 300); repeatable")
@click.option("--config", default=None, type=click.Path(), help="config/tierroute.yaml to use")
def route_cmd(prompt: str | None, file: str | None, model: str, task: str | None, complexity: str | None,
              wtp: str | None, image: str | None, fast: bool, as_json: bool, session: str | None,
              warm: tuple[str, ...], config: str | None) -> None:
    """Dry run: classify a prompt (or a JSONL file of requests), show the rule that matched and the
    plan with reasons and estimated cost (with --session/--warm: counting a warm prompt cache). No
    request is sent."""
    from tierroute.routing.config import RoutingConfig
    from tierroute.routing.hints import parse_hints
    from tierroute.routing.router import Router
    from tierroute.routing.rules import load_rules
    from tierroute.routing.tokens import estimate_prompt_tokens

    if (prompt is None) == (file is None):
        raise click.UsageError("give a PROMPT or --file FILE (one of them)")
    settings = _settings(config)
    from tierroute.config.loader import ConfigError

    try:
        router = Router(settings, load_rules(settings.routing_rules_path, settings.catalog),
                        settings.section("routing", RoutingConfig))
    except ConfigError as e:
        raise click.ClickException(f"configuration error\n{e}") from None
    headers = {k: v for k, v in (("X-Tierroute-Task", task), ("X-Tierroute-Complexity", complexity),
                                 ("X-Tierroute-Willingness-To-Pay", wtp)) if v is not None}
    if file is not None:
        items = _requests_from_file(file, model)
    else:
        content: Any = prompt
        if image:
            content = [{"type": "text", "text": prompt}, {"type": "image_url", "image_url": {"url": image}}]
        req = msgspec.convert({"model": model, "messages": [{"role": "user", "content": content}]}, ChatRequest)
        items = [("prompt", req, None)]
    if warm and session is None:
        session = "tierroute-route"
    if session is not None:
        for _, req, _ in items:
            req.session = session
    _seed_warm(router, settings, session, warm)

    async def run() -> list[dict]:
        out = []
        for label, req, md in items:
            tokens = estimate_prompt_tokens(req)
            try:
                hints: RouteHints = parse_hints(headers, md)
                plan = router.plan(req, hints) if fast else await router.plan_async(req, hints)
                out.append(_plan_dict(label, req, plan, None, tokens))
            except TierrouteError as e:
                out.append(_plan_dict(label, req, None, f"{e.status} {e.message}", tokens))
        return out

    results = asyncio.run(run())
    for d in results:
        if as_json:
            click.echo(json.dumps(d))
        else:
            _print_table(d)
    if any("error" in d for d in results):
        sys.exit(1)  # scripts can tell a request no model would take


def _seed_warm(router: Any, settings: Any, session: str | None, warm: tuple[str, ...]) -> None:
    """Put the --warm entries into the router's (in-process) affinity store for ``session``."""
    if not warm or session is None:
        return
    import time

    from tierroute.routing.affinity import WarmEntry, session_key

    if router.affinity is None:
        raise click.UsageError("--warm needs routing.affinity.enabled")
    from tierroute.types import Message

    key = session_key(ChatRequest(model="auto", messages=[Message(role="user", content="x")], session=session))
    store = getattr(router.affinity, "local", router.affinity)
    now = time.time()
    for spec in warm:
        parts = spec.split(":")
        ttl = 300.0
        try:
            if len(parts) >= 3 and parts[-2].isdigit():
                dep_id, tokens, ttl = ":".join(parts[:-2]), int(parts[-2]), float(parts[-1])
            else:
                dep_id, tokens = ":".join(parts[:-1]), int(parts[-1])
        except ValueError:
            raise click.UsageError(f"--warm {spec!r}: write DEPLOYMENT:TOKENS[:TTL_S], e.g. "
                                   "anthropic/claude-sonnet-4-5:42000") from None
        if settings.catalog.deployment(dep_id) is None:
            known = ", ".join(d.id for d in settings.catalog.deployments()[:6])
            raise click.UsageError(f"--warm {spec!r}: no deployment {dep_id!r} (deployments look like {known}, ...)")
        store.put_now(key, WarmEntry(dep_id, tokens, now + ttl, now))


# ---------------------------------------------------------------------------- router train / eval


def _embed(texts: list[str], quiet: bool) -> Any:
    from tierroute.embedding import default_embedder
    from tierroute.routing.train import embed_texts

    def progress(done: int, total: int) -> None:
        if not quiet and (done == total or done % 1024 < 64):
            click.echo(f"  embedded {done}/{total}", err=True)

    emb = default_embedder()
    return emb, embed_texts(emb, texts, progress=progress)


def _load(paths: tuple[str, ...]) -> Any:
    from tierroute.routing.dataset import load_data

    try:
        return load_data(list(paths))
    except ValueError as e:
        raise click.ClickException(str(e)) from None


FROM_CONFIG = "@config"  # --from-usage given without a DB: the store the gateway's config names


def _usage_cfg(db: str, table_prefix: str | None, settings: Any) -> Any:
    from tierroute.usage.config import UsageConfig

    if db == FROM_CONFIG:
        cfg = settings.section("usage", UsageConfig)
    elif db.startswith(("postgresql://", "postgres://")):
        cfg = UsageConfig(database_url=db)
    else:
        cfg = UsageConfig(sqlite_path=db)
    if table_prefix is not None:
        cfg = msgspec.structs.replace(cfg, table_prefix=table_prefix)
    if not cfg.database_url and not Path(cfg.sqlite_path).exists():
        raise click.ClickException(f"no usage database at {cfg.sqlite_path}: give --from-usage a SQLite file or a "
                                   "postgresql:// URL, or run from the gateway's directory")
    return cfg


def _from_usage(db: str, table_prefix: str | None, since: str | None, config: str | None, echo: Any) -> Any:
    """RoutingData from the usage store, with an account of the records used and skipped."""
    from tierroute.limits.shared import redacted_url
    from tierroute.routing.usage_data import NotAUsageStore, load_usage
    from tierroute.usage.reports import ReportError, parse_since

    settings = _settings(config)  # the catalog prices the answers; the config may also name the store
    cfg = _usage_cfg(db, table_prefix, settings)
    try:
        since_s = parse_since(since) if since else None
    except ReportError as e:
        raise click.BadParameter(str(e), param_hint="--usage-since") from None
    where = redacted_url(cfg.database_url) if cfg.database_url else cfg.sqlite_path
    try:
        ud = load_usage(cfg, settings.catalog, since_s)
    except NotAUsageStore as e:
        raise click.ClickException(f"{where}: {e}") from None
    except Exception as e:  # a database that is down or unreadable
        raise click.ClickException(f"cannot read the usage store {where}: {type(e).__name__}: {e}") from None
    echo(f"{where}: " + ud.summary())
    if ud.data is None:
        raise click.ClickException(f"no usable usage records in {where}: turn on usage.log_content in the "
                                   "gateway's config (prompts are needed to learn from) and serve some traffic")
    if len(ud.data.models) < 2:
        raise click.ClickException(f"the usable usage records name one model only ({ud.data.models[0]}): a router "
                                   "chooses between models, so it needs outcomes of two, e.g. from a cascade "
                                   "rule (cascade: true in routing_rules.yaml)")
    return ud.data


def _dataset(data: tuple[str, ...], from_usage: str | None, table_prefix: str | None, since: str | None,
             config: str | None, echo: Any) -> Any:
    from tierroute.routing.usage_data import combine

    if not data and from_usage is None:
        raise click.UsageError("give --data FILE (labelled JSONL) and/or --from-usage [DB]")
    ds = _load(data) if data else None
    if from_usage is not None:
        us = _from_usage(from_usage, table_prefix, since, config, echo)
        ds = us if ds is None else combine(ds, us)
        _check_pairs(ds, echo)
    return ds


def _check_pairs(ds: Any, echo: Any) -> None:
    """The router learns which prompts gain from the strong model over the weak one from the rows
    that score both: say how many there are, and stop when there are none."""
    from tierroute.routing.evaluate import pick_pair

    si, wi = pick_pair(ds.scores, ds.costs)
    strong, weak = ds.models[si], ds.models[wi]
    n = len(ds.complete([si, wi]))
    echo(f"{n} of {len(ds)} rows score both {strong} and {weak}, the pair the router chooses between")
    if n == 0:
        raise click.ClickException(f"no row scores both {strong} and {weak}, so nothing shows which prompts need "
                                   f"{strong}: serve traffic through a cascade rule (cascade: true in "
                                   "routing_rules.yaml) that starts at the cheap model, or add labelled --data")


def _usage_options(f: Any) -> Any:
    opts = [
        click.option("--from-usage", "from_usage", is_flag=False, flag_value=FROM_CONFIG, default=None,
                     metavar="[DB]", help="learn from the gateway's usage log joined with feedback and cascade "
                     "outcomes: a SQLite file or postgresql:// URL; alone, the store the config names"),
        click.option("--table-prefix", default=None, help="table prefix of the usage store, if it uses one"),
        click.option("--usage-since", "usage_since", default=None, help="only usage records this recent (7d, 24h)"),
        click.option("--config", default=None, type=click.Path(), help="config/tierroute.yaml (catalog prices, "
                     "and the usage store when --from-usage names none)"),
    ]
    for o in reversed(opts):
        f = o(f)
    return f


def _metrics_line(name: str, m: dict) -> str:
    return (f"{name:10} APGR {m['apgr']:.3f}  CPT50 {m['cpt50']:.3f}  CPT80 {m['cpt80']:.3f}  "
            f"strong@95 {m['strong_share_at_95']:.3f}  cost@95 {m['cost_fraction_at_95']:.3f}")


@click.group("router")
def router_group() -> None:
    """Train and evaluate the router used for `model: auto` (routing.router in tierroute.yaml)."""


@router_group.command("train")
@click.option("--data", "data", multiple=True, type=click.Path(exists=True, dir_okay=False),
              help="labelled JSONL (.jsonl or .jsonl.gz), repeatable")
@_usage_options
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False), help="router file to write")
@click.option("--holdout", default=0.0, type=click.FloatRange(0, 0.9),
              help="share of rows (per source) kept out of training and reported as held-out metrics")
@click.option("--folds", default=5, show_default=True, type=click.IntRange(2, 20))
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--quiet", is_flag=True)
def train_cmd(data: tuple[str, ...], from_usage: str | None, table_prefix: str | None, usage_since: str | None,
              config: str | None, out: str, holdout: float, folds: int, seed: int, quiet: bool) -> None:
    """Learn a router from labelled data (any number of models, each with score and cost per prompt)
    and/or from the gateway's usage log (--from-usage: logged prompts scored by feedback and cascade
    outcomes; see routing/usage_data.py for the rules)."""
    import numpy as np

    from tierroute.routing.train import eval_router, train_router

    ds = _dataset(data, from_usage, table_prefix, usage_since, config, click.echo)
    emb, vecs = _embed(ds.texts, quiet)
    rng = np.random.default_rng(seed)
    test = np.zeros(len(ds), dtype=bool)
    if holdout > 0:
        srcs = np.array(ds.sources)
        for s in sorted(set(ds.sources)):
            idx = np.flatnonzero(srcs == s)
            test[rng.permutation(idx)[: int(round(len(idx) * holdout))]] = True
    tr = np.flatnonzero(~test)
    train_ds = ds.subset(tr)
    router = train_router(train_ds, vecs[tr], embedder_name=emb.name, folds=folds, seed=seed)
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    router.save(out)
    click.echo(f"wrote {out}: {len(tr)} training rows, strong={router.strong} weak={router.weak}")
    for e in router.experts:
        i = e.info
        click.echo(f"  expert {e.name}: {i['rows']} rows, C={i['C']} alpha={i['alpha']} blend={i['blend']} "
                   f"knn={i.get('knn_weight', 0)} "
                   f"(cross-validated APGR {i['cv_apgr']:.3f})")
    srcs = np.array(ds.sources)
    for s in sorted(set(ds.sources)):
        for name, mask in (("train", ~test), ("held-out", test)):
            idx = np.flatnonzero(mask & (srcs == s))
            if len(idx) < 10:
                continue
            try:
                m = eval_router(router, ds.subset(idx), vecs[idx])
            except ValueError:
                continue
            click.echo(_metrics_line(f"{s} {name}", m) + f"   (random APGR {m['random']['apgr']:.3f}, "
                       f"strong@95 {m['random']['strong_share_at_95']:.3f}; n={len(idx)})")


@router_group.command("eval")
@click.option("--router", "router_path", required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--data", "data", multiple=True, type=click.Path(exists=True, dir_okay=False))
@_usage_options
@click.option("--json", "as_json", is_flag=True, help="print one JSON object")
def eval_cmd(router_path: str, data: tuple[str, ...], from_usage: str | None, table_prefix: str | None,
             usage_since: str | None, config: str | None, as_json: bool) -> None:
    """Score a trained router on labelled data: APGR, CPT(50%), CPT(80%), the strong-call share and
    cost fraction at 95% of the strongest model's quality, and the same for random routing."""
    from tierroute.routing.learned import TrainedRouter
    from tierroute.routing.train import eval_router

    try:
        router = TrainedRouter.load(router_path)
    except (OSError, ValueError, KeyError) as e:
        raise click.ClickException(f"{router_path}: not a tierroute router ({e})") from None
    ds = _dataset(data, from_usage, table_prefix, usage_since, config, lambda m: click.echo(m, err=True))
    _, vecs = _embed(ds.texts, quiet=True)
    try:
        m = eval_router(router, ds, vecs)
    except ValueError as e:
        raise click.ClickException(str(e)) from None
    if as_json:
        click.echo(json.dumps(m))
    else:
        click.echo(_metrics_line("router", m))
        click.echo(_metrics_line("random", m["random"]))  # type: ignore[arg-type]


routing_cli: dict[str, click.Command] = {"route": route_cmd, "router": router_group}

if __name__ == "__main__":  # pragma: no cover
    sys.exit(router_group())
