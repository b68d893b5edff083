-- GET /api/v1/quizzes/{id} as a student (the published quiz, student view).
-- usage: wrk ... -s bench/lua/get_quiz.lua URL -- QUIZ_ID TOKEN
local dir = string.match(debug.getinfo(1, "S").source, "^@(.*/)") or "./"
dofile(dir .. "common.lua")

local req

function init(args)
  req = wrk.format("GET", "/api/v1/quizzes/" .. args[1], { Authorization = "Bearer " .. args[2] })
end

function request()
  return req
end
