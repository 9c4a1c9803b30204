-- The wrk script of bench/run.sh. The request comes from the environment:
--   BENCH_TOKEN        send `Authorization: Bearer <token>` on every request
--   BENCH_TOKENS_FILE  rotate through the tokens in this file, one per line
--   BENCH_BODY         POST this form body (application/x-www-form-urlencoded)
-- At the end it prints one line, `RESULT key=value ...`, for run.sh to read.

local token = os.getenv("BENCH_TOKEN")
local tokens_file = os.getenv("BENCH_TOKENS_FILE")
local body = os.getenv("BENCH_BODY")

if token and token ~= "" then
  wrk.headers["Authorization"] = "Bearer " .. token
end

if body and body ~= "" then
  wrk.method = "POST"
  wrk.body = body
  wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
end

if tokens_file and tokens_file ~= "" then
  -- Requests are formatted once here; request() only hands them out.
  local prepared = {}
  for line in io.lines(tokens_file) do
    if line ~= "" then
      prepared[#prepared + 1] = wrk.format(nil, nil, { Authorization = "Bearer " .. line })
    end
  end
  local i = 0
  request = function()
    i = i % #prepared + 1
    return prepared[i]
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "RESULT requests=%d duration_us=%d p50_us=%d p99_us=%d max_us=%d status_errors=%d timeouts=%d socket_errors=%d\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), latency.max,
    e.status, e.timeout, e.connect + e.read + e.write))
end
