-- Baseline: GET / on the bare FastAPI hello app.
-- usage: wrk ... -s bench/lua/hello.lua URL
local dir = string.match(debug.getinfo(1, "S").source, "^@(.*/)") or "./"
dofile(dir .. "common.lua")

local req

function init(args)
  req = wrk.format("GET", "/")
end

function request()
  return req
end
