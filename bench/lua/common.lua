-- Shared by the bench scripts (loaded with dofile by each of them, in every Lua state wrk
-- creates: the main one runs setup/done, each thread's runs init/request/response).
--
-- Counts responses by status class in every thread and, in done(), prints one line
--   BENCH-RESULT {json}
-- that bench/run.py parses: requests, 2xx/3xx/4xx/5xx counts, the first non-2xx status
-- with the start of its body, how many requests each thread issued, whether a list of
-- prepared requests wrapped around (ran out), and wrk's socket error counters.

local threads = {}
local next_id = 0

c2xx, c3xx, c4xx, c5xx = 0, 0, 0, 0
first_bad = ""
issued = 0
wrapped = 0
tid = 0

function setup(thread)
  thread:set("tid", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

function response(status, headers, body)
  if status >= 200 and status < 300 then
    c2xx = c2xx + 1
    return
  end
  if status < 400 then
    c3xx = c3xx + 1
  elseif status < 500 then
    c4xx = c4xx + 1
  else
    c5xx = c5xx + 1
  end
  if first_bad == "" then
    first_bad = tostring(status) .. " " .. string.sub(body or "", 1, 300)
  end
end

-- Lines of a whitespace-separated file as arrays of fields (blank lines skipped).
function read_rows(path)
  local rows = {}
  local fh = assert(io.open(path, "r"), "cannot open " .. tostring(path))
  for line in fh:lines() do
    local fields = {}
    for field in string.gmatch(line, "%S+") do
      table.insert(fields, field)
    end
    if #fields > 0 then
      table.insert(rows, fields)
    end
  end
  fh:close()
  return rows
end

-- A request() that walks through prepared requests: thread k of n takes k, k+n, k+2n, ...
-- Past the end it starts again and sets `wrapped` (repeat requests may be cheaper).
function walker(requests, nthreads)
  local n = #requests
  local i = tid
  return function()
    if i >= n then
      wrapped = 1
      i = i % n
    end
    local req = requests[i + 1]
    i = i + nthreads
    issued = issued + 1
    return req
  end
end

local function esc(s)
  s = string.gsub(s, "\\", "\\\\")
  s = string.gsub(s, '"', '\\"')
  s = string.gsub(s, "[%c]", " ")
  return s
end

function done(summary, latency, requests)
  local t = { c2xx = 0, c3xx = 0, c4xx = 0, c5xx = 0, issued = 0, wrapped = 0 }
  local bad = ""
  for _, thread in ipairs(threads) do
    for key, _ in pairs(t) do
      t[key] = t[key] + (thread:get(key) or 0)
    end
    local fb = thread:get("first_bad") or ""
    if bad == "" and fb ~= "" then
      bad = fb
    end
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH-RESULT {"requests": %d, "duration_us": %d, "c2xx": %d, "c3xx": %d, "c4xx": %d, '
      .. '"c5xx": %d, "issued": %d, "wrapped": %d, "connect_errors": %d, "read_errors": %d, '
      .. '"write_errors": %d, "timeouts": %d, "status_errors": %d, "first_bad": "%s"}\n',
    summary.requests, summary.duration, t.c2xx, t.c3xx, t.c4xx, t.c5xx, t.issued, t.wrapped,
    e.connect, e.read, e.write, e.timeout, e.status, esc(bad)))
end
