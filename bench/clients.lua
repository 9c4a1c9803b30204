-- wrk script of bench/clients.sh. BENCH_MODE=cc: POST /token with the
-- client_credentials grant as the client in BENCH_BASIC (HTTP Basic).
-- BENCH_MODE=refresh: the refresh grant, each connection spending the
-- refresh token the previous answer gave (rotation), starting from the
-- tokens in BENCH_TOKENS (one per line; each thread takes its own share).
local mode = os.getenv("BENCH_MODE")
local threads = 0

function setup(thread)
  threads = threads + 1
  thread:set("id", threads)
end

function init(args)
  queue = {}
  if mode == "refresh" then
    local count = tonumber(os.getenv("BENCH_THREADS"))
    local n = 0
    for line in io.lines(os.getenv("BENCH_TOKENS")) do
      n = n + 1
      if n % count == id % count then table.insert(queue, line) end
    end
  end
end

local form = { ["Content-Type"] = "application/x-www-form-urlencoded" }

function request()
  if mode == "cc" then
    form["Authorization"] = "Basic " .. os.getenv("BENCH_BASIC")
    return wrk.format("POST", "/token", form, "grant_type=client_credentials")
  end
  local token = table.remove(queue, 1) or "none-left"
  return wrk.format("POST", "/token", form, "grant_type=refresh_token&refresh_token=" .. token)
end

function response(status, headers, body)
  if mode == "refresh" then
    local token = body:match('"refresh_token":"([^"]+)"')
    if token then table.insert(queue, token) end
  end
end
