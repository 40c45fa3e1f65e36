-- wrk: POST one delivery receipt per request, each to a different delivery's token
-- (bench.py writes the tokens, one per line). Every wrk thread takes its own share.
local tokens = {}
for line in io.lines(os.getenv("BENCH_TOKENS")) do tokens[#tokens + 1] = line end
local prefix = os.getenv("BENCH_PREFIX")
local body = '{"status":"DELIVRD"}'
local threads = tonumber(os.getenv("BENCH_THREADS"))
local counter = 0

function setup(thread)
  thread:set("first", counter)
  counter = counter + 1
end

function init(args)
  next_index = first
end

function request()
  local token = tokens[(next_index % #tokens) + 1]
  next_index = next_index + threads
  return wrk.format("POST", prefix .. token, {["Content-Type"] = "application/json"}, body)
end
