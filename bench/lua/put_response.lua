-- PUT /api/v1/attempts/{attempt}/responses/{question} {"option_id": ...} as the attempt's
-- student, walking round-robin through prepared (attempt, question) pairs so concurrent
-- requests do not queue on the same row lock.
-- usage: wrk ... -s bench/lua/put_response.lua URL -- FILE NTHREADS
-- FILE lines: ATTEMPT_ID QUESTION_ID OPTION_ID TOKEN
local dir = string.match(debug.getinfo(1, "S").source, "^@(.*/)") or "./"
dofile(dir .. "common.lua")

local walk

function init(args)
  local requests = {}
  for _, row in ipairs(read_rows(args[1])) do
    local path = "/api/v1/attempts/" .. row[1] .. "/responses/" .. row[2]
    local headers = {
      Authorization = "Bearer " .. row[4],
      ["Content-Type"] = "application/json",
    }
    table.insert(requests, wrk.format("PUT", path, headers, '{"option_id": "' .. row[3] .. '"}'))
  end
  -- Round and round the list: the upsert is idempotent, every PUT does the full work.
  walk = walker(requests, tonumber(args[2]) or 1)
end

-- wrk decides at load time whether requests are dynamic: request must be a global function.
function request()
  return walk()
end
