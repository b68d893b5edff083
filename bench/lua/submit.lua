-- POST /api/v1/attempts/{id}/submit as the attempt's student, each request taking the next
-- in-progress attempt of a prepared pool. A second submit of an attempt is the cheap
-- repeat path, so bench/run.py sizes the pool to outlast the run and reports `wrapped`.
-- usage: wrk ... -s bench/lua/submit.lua URL -- FILE NTHREADS
-- FILE lines: ATTEMPT_ID TOKEN
local dir = string.match(debug.getinfo(1, "S").source, "^@(.*/)") or "./"
dofile(dir .. "common.lua")

local walk

function init(args)
  local requests = {}
  for _, row in ipairs(read_rows(args[1])) do
    local path = "/api/v1/attempts/" .. row[1] .. "/submit"
    table.insert(requests, wrk.format("POST", path, { Authorization = "Bearer " .. row[2] }, ""))
  end
  walk = walker(requests, tonumber(args[2]) or 1)
end

-- wrk decides at load time whether requests are dynamic: request must be a global function.
function request()
  return walk()
end
