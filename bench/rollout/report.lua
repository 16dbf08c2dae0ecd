-- wrk's done() hook: one machine-readable line per run, parsed by bench/rollout/run.
-- Latencies are in microseconds; "status" counts responses with a status of 400 or more
-- (wrk's own definition of a bad response); the other four are socket errors.
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "RESULT requests=%d duration_us=%d connect=%d read=%d write=%d timeout=%d status=%d p50_us=%d p99_us=%d max_us=%d\n",
    summary.requests, summary.duration, e.connect, e.read, e.write, e.timeout, e.status,
    latency:percentile(50), latency:percentile(99), latency.max))
end
