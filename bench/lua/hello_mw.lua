-- Baseline with the instance's middleware: GET /api/hello on hello_app:app_with_middleware.
-- usage: wrk ... -s bench/lua/hello_mw.lua URL
local dir = string.match(debug.getinfo(1, "S").source, "^@(.*/)") or "./"
dofile(dir .. "common.lua")

local req

function init(args)
  req = wrk.format("GET", "/api/hello")
end

function request()
  return req
end
