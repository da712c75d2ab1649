-- wrk script for the graced benchmark.
--
-- BENCH_WRK_CLOSE=1 adds "Connection: close" to every request, so wrk opens a new
-- connection per request (bench.py checks that at start against a counting server).
-- done() prints one machine-readable line, so no number has to be parsed from wrk's
-- human output (whose units change between us, ms and s).

if os.getenv("BENCH_WRK_CLOSE") == "1" then
   wrk.headers["Connection"] = "close"
end

function done(summary, latency, requests)
   local e = summary.errors
   io.write(string.format(
      'BENCHJSON {"requests":%d,"duration_us":%d,"bytes":%d,' ..
      '"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d,' ..
      '"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,"mean_us":%.1f}\n',
      summary.requests, summary.duration, summary.bytes,
      e.connect, e.read, e.write, e.status, e.timeout,
      latency:percentile(50), latency:percentile(90), latency:percentile(99),
      latency.max, latency.mean))
end
