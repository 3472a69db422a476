-- wrk script: walk a list of requests so that every request is a different one.
--
--   wrk -t1 -c32 -d15s -s loadtests/wrk/walk.lua http://127.0.0.1:8000 -- requests.tsv 1
--
-- (the last argument repeats -t: each thread's Lua state cannot see how many threads exist).
-- Each line of the file is METHOD <tab> PATH <tab> X-Forwarded-For <tab> BODY (BODY may be
-- empty), optionally followed by <tab>-separated extras: "Name: value" sets that header (e.g.
-- "Accept: text/html" for a browser scan), anything else is the Authorization value.
-- Thread i of n takes lines i, i+n, i+2n, ... so threads never send the same line.
-- When a thread runs out it starts again from its first line and counts a wrap (the harness
-- treats a wrap during a first-scan run as an error: codes would be scanned twice).
-- wrk calls request() once per thread before connecting and discards the result, so a
-- thread's first line is sent last. done() prints one JSON line (prefixed "WRK_JSON ") for the harness to parse.

local threads = {}
local counter = 0

function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

function init(args)
  local nthreads = tonumber(args[2] or "1")
  local path = args[1]
  requests = {}
  wraps = 0
  local i = 0
  local n = 0
  for line in io.lines(path) do
    if i % nthreads == id then
      local method, url, xff, body = line:match("^([^\t]*)\t([^\t]*)\t([^\t]*)\t?(.*)$")
      local headers = { ["X-Forwarded-For"] = xff, ["Accept"] = "application/json" }
      local json_body, extras = body:match("^([^\t]*)\t(.+)$")
      if extras ~= nil then
        body = json_body
        for extra in extras:gmatch("[^\t]+") do
          local name, value = extra:match("^([%w-]+): (.*)$")
          if name ~= nil then
            headers[name] = value
          else
            headers["Authorization"] = extra
          end
        end
      end
      if body ~= nil and body ~= "" then
        headers["Content-Type"] = "application/json"
      else
        body = nil
      end
      n = n + 1
      requests[n] = wrk.format(method, url, headers, body)
    end
    i = i + 1
  end
  count = n
  pos = 0
end

function request()
  pos = pos + 1
  if pos > count then
    pos = 1
    wraps = wraps + 1
  end
  return requests[pos]
end

function done(summary, latency, requests)
  local total_wraps = 0
  for _, t in ipairs(threads) do
    total_wraps = total_wraps + (t:get("wraps") or 0)
  end
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests": %d, "duration_us": %d, "bytes": %d, "p50_us": %d, "p90_us": %d, '
      .. '"p99_us": %d, "max_us": %d, "errors_connect": %d, "errors_read": %d, '
      .. '"errors_write": %d, "errors_status": %d, "errors_timeout": %d, "wraps": %d}\n',
    summary.requests, summary.duration, summary.bytes, latency:percentile(50),
    latency:percentile(90), latency:percentile(99), latency.max, e.connect, e.read, e.write,
    e.status, e.timeout, total_wraps))
end
