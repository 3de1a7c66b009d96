-- wrk script for bench/ingest.py: POST /e batches with ids unique per thread and request.
-- Settings come from the environment: BENCH_SITE, BENCH_ORIGIN, BENCH_EVENTS, and BENCH_PAGEVIEW=1
-- to open each body with the page view's report (docs/design.md §3: its present elements).
local threads = {}
local counter = 0

function setup(thread)
  thread:set("tid", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  site = os.getenv("BENCH_SITE") or "bench"
  origin = os.getenv("BENCH_ORIGIN") or "https://bench.example"
  events = tonumber(os.getenv("BENCH_EVENTS") or "10")
  run = os.getenv("BENCH_RUN") or tostring(os.time())
  pageview_report = os.getenv("BENCH_PAGEVIEW") == "1"
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "text/plain;charset=UTF-8"
  wrk.headers["Origin"] = origin
  wrk.headers["User-Agent"] = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
end

local elements = {"hero-signup", "pricing-cta", "nav-docs", "footer-link", "promo-banner"}
local kinds = {"cta", "cta", "nav", "link", "banner"}

function request()
  counter = counter + 1
  local pv = run .. "-" .. tid .. "-" .. counter
  local parts = {}
  for i = 1, events do
    local k = (i - 1) % #elements + 1
    local kind = (i % 4 == 0) and "click" or "impression"
    parts[i] = string.format(
      '{"id":"%s-%d","type":"%s","element":"%s","kind":"%s","ts":%d}',
      pv, i, kind, elements[k], kinds[k], 1764000000000 + i)
  end
  if pageview_report then
    table.insert(parts, 1, string.format(
      '{"id":"%s-0","type":"pageview","present":["%s"],"ts":%d}',
      pv, table.concat(elements, '","'), 1764000000000))
  end
  local body = string.format(
    '{"site":"%s","pageview":"%s","url":"%s/pricing?utm_source=bench","referrer":"https://news.example/","variant":"%s","events":[%s]}',
    site, pv, origin, (counter % 2 == 0) and "A" or "B", table.concat(parts, ","))
  return wrk.format(nil, "/e", nil, body)
end

function done(summary, latency, requests)
  local errors = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,"connect_errors":%d,"read_errors":%d,"write_errors":%d,"status_errors":%d,"timeouts":%d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, errors.connect, errors.read, errors.write,
    errors.status, errors.timeout))
end
