-- One wrk script for every scenario of bench/run.py, configured by environment variables:
--   BENCH_MODE   paths (default): GET each line of BENCH_PATHS in turn, from a random start
--                order: POST /v1/orders with a fresh Idempotency-Key per request
--                login: POST /v1/auth/login with BENCH_EMAIL / BENCH_PASSWORD
--   BENCH_TOKENS comma-separated access tokens: each request sends the next one as
--                "Authorization: Bearer <token>" (orders come from several customers)
--   BENCH_BOOKS  order mode: book ids 1..N to order from (default 1000)
-- done() prints one line "BENCH_JSON {...}": requests, rps, latency percentiles (ms),
-- non-2xx/3xx responses by status, socket errors and the X-Cache HIT/MISS counts.

local mode = os.getenv("BENCH_MODE") or "paths"
local tokens = {}
for token in string.gmatch(os.getenv("BENCH_TOKENS") or "", "[^,]+") do
  tokens[#tokens + 1] = "Bearer " .. token
end
local sent = 0
local threads = {}
local created = 0

function setup(thread)
  created = created + 1
  thread:set("thread_id", created)
  table.insert(threads, thread)
end

local paths = {}
local cursor = 1
local counter = 0
local no_headers = {}
local books = tonumber(os.getenv("BENCH_BOOKS") or "1000")

function init(args)
  math.randomseed(os.time() * 1000 + (thread_id or 0) * 7919 + math.floor(os.clock() * 1e6))
  if mode == "paths" then
    for line in io.lines(os.getenv("BENCH_PATHS")) do
      if line ~= "" then
        paths[#paths + 1] = line
      end
    end
    cursor = math.random(1, #paths)
  end
  hits, misses, errors, responses, statuses = 0, 0, 0, 0, ""
  status_counts = {}
end

-- The request's headers: ``extra`` and, with tokens, the next customer's.
local function headers_with(extra)
  if #tokens == 0 then
    return extra
  end
  local out = {}
  for k, v in pairs(extra) do
    out[k] = v
  end
  sent = sent + 1
  out["Authorization"] = tokens[(sent % #tokens) + 1]
  return out
end

local ORDER = '{"items":[{"book_id":%d,"quantity":1}],"shipping_address":'
  .. '{"name":"Bench Customer","line1":"1 Load Street","city":"Berlin",'
  .. '"postal_code":"10115","country":"DE"}}'

request = function()
  if mode == "order" then
    counter = counter + 1
    local key = string.format("bench-%d-%d-%d-%d", os.time(), thread_id or 0, counter,
      math.random(1, 1000000000))
    local body = string.format(ORDER, math.random(1, books))
    return wrk.format("POST", "/v1/orders",
      headers_with({["Content-Type"] = "application/json", ["Idempotency-Key"] = key}), body)
  elseif mode == "login" then
    local body = string.format('{"email":"%s","password":"%s"}',
      os.getenv("BENCH_EMAIL"), os.getenv("BENCH_PASSWORD"))
    return wrk.format("POST", "/v1/auth/login",
      headers_with({["Content-Type"] = "application/json"}), body)
  end
  local path = paths[cursor]
  cursor = cursor + 1
  if cursor > #paths then
    cursor = 1
  end
  return wrk.format("GET", path, headers_with(no_headers))
end

response = function(status, headers, body)
  responses = responses + 1
  if status < 200 or status >= 400 then
    errors = errors + 1
    status_counts[status] = (status_counts[status] or 0) + 1
    local parts = {}
    for code, count in pairs(status_counts) do
      parts[#parts + 1] = string.format('"%d":%d', code, count)
    end
    statuses = table.concat(parts, ",")
  end
  local cache = headers["X-Cache"]
  if cache == "HIT" then
    hits = hits + 1
  elseif cache == "MISS" then
    misses = misses + 1
  end
end

function done(summary, latency, requests)
  local hit, miss, bad, seen, by_status = 0, 0, 0, 0, {}
  for _, thread in ipairs(threads) do
    hit = hit + thread:get("hits")
    miss = miss + thread:get("misses")
    bad = bad + thread:get("errors")
    seen = seen + thread:get("responses")
    local s = thread:get("statuses")
    if s and s ~= "" then
      by_status[#by_status + 1] = s
    end
  end
  local e = summary.errors
  local seconds = summary.duration / 1e6
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"seconds":%.3f,"rps":%.1f,"responses":%d,'
      .. '"p50":%.3f,"p75":%.3f,"p90":%.3f,"p95":%.3f,"p99":%.3f,"max":%.3f,"mean":%.3f,'
      .. '"errors":%d,"statuses":{%s},"socket_errors":%d,"timeouts":%d,'
      .. '"cache_hits":%d,"cache_misses":%d}\n',
    summary.requests, seconds, summary.requests / seconds, seen,
    latency:percentile(50) / 1000, latency:percentile(75) / 1000,
    latency:percentile(90) / 1000, latency:percentile(95) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000, latency.mean / 1000,
    bad, table.concat(by_status, ","), e.connect + e.read + e.write, e.timeout, hit, miss))
end
