-- task_eval.lua - wrk script of bench/task_bench.sh: one AuthZEN evaluation
-- (POST /access/v1/evaluation), its body read from the file BODY_FILE
-- names, over keep-alive connections.  A response that is not 200 with
-- "decision":true counts as bad.
local threads = {}
local bad = 0

function setup(thread)
   table.insert(threads, thread)
end

function init(args)
   local f = assert(io.open(os.getenv("BODY_FILE"), "rb"))
   wrk.method = "POST"
   wrk.headers["Content-Type"] = "application/json"
   wrk.body = f:read("*a")
   f:close()
end

function response(status, headers, body)
   if status ~= 200 or not string.find(body, '"decision":true', 1, true) then
      bad = bad + 1
      if bad == 1 then io.stderr:write("first bad answer: " .. status .. " " .. body .. "\n") end
   end
end

function done(summary, latency, requests)
   local nbad = 0
   for _, t in ipairs(threads) do nbad = nbad + (t:get("bad") or 0) end
   local e = summary.errors
   io.write(string.format("RESULT requests=%d seconds=%.3f bad=%d sockerr=%d p50_ms=%.3f p99_ms=%.3f\n",
      summary.requests, summary.duration / 1e6, nbad,
      e.connect + e.read + e.write + e.timeout,
      latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
