-- wrk script: POST the body in $BENCH_BODY (one dialect's request) to the path wrk was given, and
-- print a machine-readable summary. Both Bearer and x-api-key carry the key, as clients send.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. (os.getenv("BENCH_API_KEY") or "sk-bench-dummy")
wrk.headers["x-api-key"] = os.getenv("BENCH_API_KEY") or "sk-bench-dummy"
wrk.headers["anthropic-version"] = "2023-06-01"
wrk.body = os.getenv("BENCH_BODY")

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"errors":%d,"p50":%d,"p90":%d,"p99":%d}\n',
    summary.requests, summary.duration, e.connect + e.read + e.write + e.status + e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99)))
end
