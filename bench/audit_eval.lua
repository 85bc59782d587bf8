-- audit_eval.lua - wrk script of bench/audit_bench.sh and
-- bench/task_bench.sh: AuthZEN evaluations (POST /access/v1/evaluation)
-- over keep-alive connections, each a permit whose decision record the
-- daemon writes (or not, with auditing off).  With BODY_FILE set, every
-- request sends that file's body (task_bench.sh); without, each names
-- another resource and path (audit_bench.sh).
-- A response that is not 200 with "decision":true counts as bad.
local threads = {}
local bad = 0
local n = 0
local body = nil

function setup(thread)
   table.insert(threads, thread)
end

function init(args)
   wrk.method = "POST"
   wrk.headers["Content-Type"] = "application/json"
   local path = os.getenv("BODY_FILE")
   if path ~= nil and path ~= "" then
      local f = assert(io.open(path, "rb"))
      body = f:read("*a")
      f:close()
   end
end

function request()
   if body ~= nil then
      return wrk.format(nil, nil, nil, body)
   end
   n = n + 1
   return wrk.format(nil, nil, nil, string.format(
      '{"subject":{"type":"user","id":"alice"},"action":{"name":"read"},' ..
      '"resource":{"type":"doc","id":"d%d"},' ..
      '"context":{"arguments":{"path":"/reports/%d","api_key":"sk-bench"}}}', n % 1000, n))
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
