-- authzen_eval.lua - wrk script of bench/authzen_bench.sh: POSTs the
-- AuthZEN Todo evaluations of BODIES (one JSON request a line) in turn
-- over keep-alive connections and prints one RESULT line at the end.
local bodies = {}
local n, i = 0, 0
local threads = {}

function setup(thread)
   thread:set("id", #threads)
   table.insert(threads, thread)
end

local get = os.getenv("METHOD") == "GET"

function init(args)
   bad = 0
   if get then
      wrk.method = "GET"
      return
   end
   for line in io.lines(os.getenv("BODIES")) do
      if #line > 0 then
         n = n + 1
         bodies[n] = line
      end
   end
   i = (id or 0) % n
   wrk.method = "POST"
   wrk.headers["Content-Type"] = "application/json"
end

function request()
   if get then
      return wrk.format()
   end
   i = i % n + 1
   return wrk.format(nil, nil, nil, bodies[i])
end

function response(status, headers, body)
   if status ~= 200 then
      bad = bad + 1
   end
end

function done(summary, latency, requests)
   local non200 = 0
   for _, t in ipairs(threads) do
      non200 = non200 + (t:get("bad") or 0)
   end
   io.write(string.format("RESULT requests=%d seconds=%.3f p50_ms=%.3f p99_ms=%.3f non200=%d sockerr=%d\n",
      summary.requests, summary.duration / 1e6,
      latency:percentile(50) / 1000, latency:percentile(99) / 1000,
      non200 + summary.errors.status,
      summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
