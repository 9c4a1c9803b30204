-- The wrk script of bench/run.sh. The request comes from the environment:
--   BENCH_TOKEN        send `Authorization: Bearer <token>` on every request
--   BENCH_TOKENS_FILE  rotate through the tokens in this file, one per line
--   BENCH_BODY         POST this form body (application/x-www-form-urlencoded)
--   BENCH_BASIC        send `Authorization: Basic <value>` on every request
--   BENCH_REFRESH_FILE refresh grants: one refresh token a line, one per wrk
--                      thread (run one connection per thread); each thread
--                      presents the refresh token its last answer returned
-- At the end it prints one line, `RESULT key=value ...`, for run.sh to read.

local token = os.getenv("BENCH_TOKEN")
local tokens_file = os.getenv("BENCH_TOKENS_FILE")
local body = os.getenv("BENCH_BODY")
local basic = os.getenv("BENCH_BASIC")
local refresh_file = os.getenv("BENCH_REFRESH_FILE")

if token and token ~= "" then
  wrk.headers["Authorization"] = "Bearer " .. token
end

if body and body ~= "" then
  wrk.method = "POST"
  wrk.body = body
  wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
end

if basic and basic ~= "" then
  wrk.headers["Authorization"] = "Basic " .. basic
end

if refresh_file and refresh_file ~= "" then
  -- setup runs in the main state, once per thread: number the threads.
  local threads = 0
  setup = function(thread)
    threads = threads + 1
    thread:set("chain", threads)
  end
  local current
  init = function()
    local n = 0
    for line in io.lines(refresh_file) do
      n = n + 1
      if n == chain then current = line end
    end
  end
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
  request = function()
    return wrk.format(nil, nil, nil, "grant_type=refresh_token&refresh_token=" .. current)
  end
  response = function(status, headers, body)
    if status == 200 then
      current = body:match('"refresh_token":"([^"]+)"') or current
    end
  end
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
