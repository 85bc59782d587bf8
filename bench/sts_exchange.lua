-- sts_exchange.lua - wrk script of bench/sts_bench.sh: RFC 8693 token
-- exchanges over keep-alive connections.  Environment: TOKENS (a file of
-- subject tokens, one a line, used in turn), FORM_REST (the rest of the
-- form, URL-encoded, starting with "&"), LIMIT (requests per thread),
-- THREADS (wrk's -t: each thread takes its own share of the tokens).
local tokens = {}
local n, i, sent, done_n, bad = 0, 0, 0, 0, 0
local limit = tonumber(os.getenv("LIMIT") or "1000")
local rest = os.getenv("FORM_REST") or ""
local threads = {}

function setup(thread)
   thread:set("id", #threads)
   table.insert(threads, thread)
end

function init(args)
   for line in io.lines(os.getenv("TOKENS")) do
      if #line > 0 then
         n = n + 1
         tokens[n] = line
      end
   end
   -- each thread its own share of the list
   i = (id or 0) * math.floor(n / tonumber(os.getenv("THREADS") or "1"))
   wrk.method = "POST"
   wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
end

function request()
   i = i % n + 1
   sent = sent + 1
   return wrk.format(nil, nil, nil,
      "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Atoken-exchange" ..
      "&subject_token_type=urn%3Aietf%3Aparams%3Aoauth%3Atoken-type%3Ajwt" ..
      "&subject_token=" .. tokens[i] .. rest)
end

function response(status, headers, body)
   done_n = done_n + 1
   if status ~= 200 then
      bad = bad + 1
      if bad == 1 then io.stderr:write("first refusal: " .. status .. " " .. body .. "\n") end
   end
   if done_n >= limit then wrk.thread:stop() end
end

function done(summary, latency, requests)
   local nbad = 0
   for _, t in ipairs(threads) do nbad = nbad + (t:get("bad") or 0) end
   local e = summary.errors
   io.write(string.format("RESULT requests=%d seconds=%.3f non200=%d sockerr=%d p50_ms=%.3f p99_ms=%.3f\n",
      summary.requests, summary.duration / 1e6, nbad,
      e.connect + e.read + e.write + e.timeout,
      latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
