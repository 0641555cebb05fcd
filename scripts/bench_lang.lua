-- Language microbenchmarks in Lua 5.4: the same programs as `llx bench lang`
-- (Sources/Commands/LangBench.swift) and scripts/bench_lang.py, written as a Lua programmer
-- would (locals, table.insert-free appends, string.format). Each is timed around one call
-- (its input built before the timer), best of --repeat runs. Prints one JSON object per line:
-- {"name": ..., "seconds": ..., "check": ...}; `check` must agree with llx's and CPython's.
-- Usage: lua scripts/bench_lang.lua [--repeat N]

local function loop(n)
  local s = 0
  for i = 0, n - 1 do s = s + 1 end
  return s
end

local function while_loop(n)
  local i, s = 0, 0
  while i < n do
    s = s + i
    i = i + 1
  end
  return s
end

local function arith(n)
  local acc = 0.0
  for i = 0, n - 1 do acc = acc + (i % 7) * 1.5 - i / 3.0 end
  return math.floor(acc * 1000 + 0.5) / 1000
end

local function fib(n)
  if n < 2 then return n end
  return fib(n - 1) + fib(n - 2)
end

local function list_build(n)
  local xs = {}
  for i = 0, n - 1 do xs[#xs + 1] = i * 2 end
  return #xs + xs[n // 2 + 1]
end

local function record_build(n)
  local rs = {}
  for i = 0, n - 1 do rs[#rs + 1] = {id = i, name = "r" .. i, score = i * 0.5} end
  return #rs + #rs[n].name
end

local function string_format(n)
  local total = 0
  for i = 0, n - 1 do
    local s = "step " .. i .. ": loss " .. string.format("%.4f", i * 0.001)
    total = total + #s
  end
  return total
end

local function make_records(n)
  local rs = {}
  for i = 0, n - 1 do
    local tags = {"c"}
    if i % 3 == 0 then tags = {"a", "b"} end
    rs[#rs + 1] = {id = i, name = "item" .. i, score = (i * 37) % 101, tags = tags}
  end
  return rs
end

local function transform(rs)
  local out = {}
  for _, r in ipairs(rs) do
    if r.score > 20 then
      out[#out + 1] = {key = string.upper(r.name), value = r.score * 2, even = r.id % 2 == 0, ntags = #r.tags}
    end
  end
  local total = 0
  for _, o in ipairs(out) do total = total + o.value + o.ntags end
  return total
end

local TOPLEVEL = [[
s = 0
for i = 0, 1000000 - 1 do
  s = s + 1
end
]]

local BENCHES = {
  {"loop", function() return 1000000 end, loop},
  {"while", function() return 1000000 end, while_loop},
  {"arith", function() return 300000 end, arith},
  {"fib", function() return 24 end, fib},
  {"list_build", function() return 100000 end, list_build},
  {"record_build", function() return 50000 end, record_build},
  {"string_format", function() return 100000 end, string_format},
  {"json_transform", function() return make_records(50000) end, transform},
}

local repeat_n = 3
for k = 1, #arg do
  if arg[k] == "--repeat" then repeat_n = tonumber(arg[k + 1]) end
end

local function num(x)
  if math.type(x) == "integer" then return string.format("%d", x) end
  return string.format("%.17g", x)
end

for _, b in ipairs(BENCHES) do
  local name, setup, fn = b[1], b[2], b[3]
  local best, check = math.huge, nil
  for _ = 1, repeat_n do
    local x = setup()
    local t0 = os.clock()
    check = fn(x)
    best = math.min(best, os.clock() - t0)
  end
  print(string.format('{"name": "%s", "seconds": %.9f, "check": %s}', name, best, num(check)))
end

do
  local best = math.huge
  local env
  for _ = 1, repeat_n do
    env = {}
    local chunk = load(TOPLEVEL, "toplevel", "t", env)
    local t0 = os.clock()
    chunk()
    best = math.min(best, os.clock() - t0)
  end
  print(string.format('{"name": "toplevel_loop", "seconds": %.9f, "check": %s}', best, num(env.s)))
end
