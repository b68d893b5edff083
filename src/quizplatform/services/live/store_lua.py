"""The Lua scripts of ``RedisLiveStore``: each runs atomically on the Redis server.

Every value a script returns is a string (Redis truncates Lua numbers to integers).
Records are JSON; the answer record is assembled by concatenation rather than
``cjson.encode`` because cjson turns an empty list (``{"option_ids": []}``) into ``{}``
and rounds numbers to 14 digits.
"""

from __future__ import annotations

# KEYS: pin, meta. ARGV: game_id, pin, count, max_players, streak (0/1), ttl_ms.
CREATE = """
if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[6]) then
  if redis.call('GET', KEYS[1]) == ARGV[1] then return 1 end
  return 0
end
redis.call('HSET', KEYS[2], 'phase', 'lobby', 'index', -1, 'count', ARGV[3],
  'started_ms', 0, 'deadline_ms', 0, 'limit_ms', 0, 'closed_ms', 0, 'remaining_ms', 0,
  'version', 1, 'players', 0, 'streak', ARGV[5], 'max_players', ARGV[4], 'pin', ARGV[2],
  'op', '')
redis.call('PEXPIRE', KEYS[2], ARGV[6])
return 1
"""

# KEYS: meta, players, nicks, board. ARGV: player_id, nick_key, player_json, ttl_ms.
JOIN = """
local m = redis.call('HMGET', KEYS[1], 'phase', 'players', 'max_players', 'version')
if not m[1] then return {'unknown', '0', '0'} end
local holder = redis.call('HGET', KEYS[3], ARGV[2])
if holder == ARGV[1] then return {'ok', m[2], m[4]} end
if m[1] == 'ended' then return {'ended', m[2], m[4]} end
if tonumber(m[2]) >= tonumber(m[3]) then return {'full', m[2], m[4]} end
if holder or redis.call('HEXISTS', KEYS[2], ARGV[1]) == 1 then return {'taken', m[2], m[4]} end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
redis.call('HSET', KEYS[3], ARGV[2], ARGV[1])
redis.call('ZADD', KEYS[4], 0, ARGV[1])
local players = redis.call('HINCRBY', KEYS[1], 'players', 1)
local version = redis.call('HINCRBY', KEYS[1], 'version', 1)
for i = 1, 4 do redis.call('PEXPIRE', KEYS[i], ARGV[4]) end
return {'ok', tostring(players), tostring(version)}
"""

# KEYS: meta, players, board. ARGV: player_id, ttl_ms.
KICK = """
local raw = redis.call('HGET', KEYS[2], ARGV[1])
if not raw then return 0 end
local p = cjson.decode(raw)
if p.kicked then return 0 end
p.kicked = true
redis.call('HSET', KEYS[2], ARGV[1], cjson.encode(p))
redis.call('ZREM', KEYS[3], ARGV[1])
redis.call('HINCRBY', KEYS[1], 'players', -1)
redis.call('HINCRBY', KEYS[1], 'version', 1)
for i = 1, 3 do redis.call('PEXPIRE', KEYS[i], ARGV[2]) end
return 1
"""

# KEYS: meta, players, nicks, board. ARGV: player_id, nick_key, ttl_ms.
LEAVE = """
local raw = redis.call('HGET', KEYS[2], ARGV[1])
if not raw then return 0 end
redis.call('HDEL', KEYS[2], ARGV[1])
if redis.call('HGET', KEYS[3], ARGV[2]) == ARGV[1] then redis.call('HDEL', KEYS[3], ARGV[2]) end
redis.call('ZREM', KEYS[4], ARGV[1])
if not cjson.decode(raw).kicked then redis.call('HINCRBY', KEYS[1], 'players', -1) end
redis.call('HINCRBY', KEYS[1], 'version', 1)
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
"""

# KEYS: meta, players, nicks, board, pin.
# ARGV: op_id, expected phases (comma separated), expected index ('' = any), mode, now_ms,
#       ttl_ms, then for mode 'start': index, started_ms, limit_ms.
# Returns {applied '1'/'0', meta field, value, ...}; no meta: {'0'}.
TRANSITION = """
local meta = KEYS[1]
if redis.call('EXISTS', meta) == 0 then return {'0'} end
local function result(applied)
  local out = {applied}
  for _, v in ipairs(redis.call('HGETALL', meta)) do table.insert(out, v) end
  return out
end
if redis.call('HGET', meta, 'op') == ARGV[1] then return result('1') end
local phase = redis.call('HGET', meta, 'phase')
local index = tonumber(redis.call('HGET', meta, 'index'))
local allowed = false
for p in string.gmatch(ARGV[2], '[^,]+') do if p == phase then allowed = true end end
if not allowed then return result('0') end
if ARGV[3] ~= '' and tonumber(ARGV[3]) ~= index then return result('0') end
local mode, now = ARGV[4], tonumber(ARGV[5])
local closed = tonumber(redis.call('HGET', meta, 'closed_ms'))
if mode == 'start' then
  local i = tonumber(ARGV[7])
  if i ~= index + 1 or i >= tonumber(redis.call('HGET', meta, 'count')) then
    return result('0')
  end
  local started, limit = tonumber(ARGV[8]), tonumber(ARGV[9])
  redis.call('HSET', meta, 'phase', 'question', 'index', i, 'started_ms', started,
    'deadline_ms', started + limit, 'limit_ms', limit, 'closed_ms', 0, 'remaining_ms', 0)
elseif mode == 'close' then
  if closed == 0 then closed = now end
  redis.call('HSET', meta, 'phase', 'closed', 'closed_ms', closed)
elseif mode == 'pause' then
  local remaining = tonumber(redis.call('HGET', meta, 'deadline_ms')) - now
  if remaining < 0 then remaining = 0 end
  redis.call('HSET', meta, 'phase', 'paused', 'closed_ms', now, 'remaining_ms', remaining)
elseif mode == 'resume' then
  local deadline = now + tonumber(redis.call('HGET', meta, 'remaining_ms'))
  local limit = tonumber(redis.call('HGET', meta, 'limit_ms'))
  redis.call('HSET', meta, 'phase', 'question', 'deadline_ms', deadline,
    'started_ms', deadline - limit, 'closed_ms', 0, 'remaining_ms', 0)
elseif mode == 'end' then
  if closed == 0 then closed = now end
  redis.call('HSET', meta, 'phase', 'ended', 'closed_ms', closed)
else
  return redis.error_reply('unknown transition ' .. mode)
end
redis.call('HINCRBY', meta, 'version', 1)
redis.call('HSET', meta, 'op', ARGV[1])
for i = 1, 5 do redis.call('PEXPIRE', KEYS[i], ARGV[6]) end
return result('1')
"""

# KEYS: meta, players, board, answers of the question, its distribution.
# ARGV: player_id, index, answer_json, fraction, points, received_ms, elapsed_ms, grace_ms,
#       ttl_ms, then the distribution keys.
# Returns {status, record_json, answered, players, streak, after_close '1'/'0'}.
ANSWER = """
local m = redis.call('HMGET', KEYS[1], 'phase', 'index', 'deadline_ms', 'closed_ms',
  'players', 'streak')
if not m[1] then return {'unknown'} end
local raw = redis.call('HGET', KEYS[2], ARGV[1])
if not raw then return {'unknown'} end
local p = cjson.decode(raw)
if p.kicked then return {'kicked'} end
local prev = redis.call('HGET', KEYS[4], ARGV[1])
if prev then
  return {'already', prev, tostring(redis.call('HLEN', KEYS[4])), m[5], tostring(p.streak),
    '0'}
end
local i = tonumber(ARGV[2])
if tonumber(m[2]) ~= i or (m[1] ~= 'question' and m[1] ~= 'closed' and m[1] ~= 'paused') then
  return {'not_open'}
end
local received, closed = tonumber(ARGV[6]), tonumber(m[4])
if received > tonumber(m[3]) + tonumber(ARGV[8]) or (closed > 0 and received > closed) then
  return {'late'}
end
local streak = 0
if tonumber(ARGV[4]) >= 1 then
  if tonumber(p.last_correct) == i - 1 then streak = p.streak + 1 else streak = 1 end
  p.last_correct = i
end
p.streak = streak
local bonus = 0
if m[6] == '1' then bonus = math.min(math.max(streak - 1, 0), 5) * 100 end
local gained = tonumber(ARGV[5]) + bonus
p.score = p.score + gained
local record = '{"answer":' .. ARGV[3] .. ',"fraction":' .. ARGV[4] .. ',"points":' ..
  ARGV[5] .. ',"bonus":' .. string.format('%d', bonus) .. ',"received_ms":' .. ARGV[6] ..
  ',"elapsed_ms":' .. ARGV[7] .. '}'
redis.call('HSET', KEYS[4], ARGV[1], record)
redis.call('HSET', KEYS[2], ARGV[1], cjson.encode(p))
redis.call('ZINCRBY', KEYS[3], gained, ARGV[1])
for k = 10, #ARGV do redis.call('HINCRBY', KEYS[5], ARGV[k], 1) end
for k = 1, 5 do redis.call('PEXPIRE', KEYS[k], ARGV[9]) end
local after_close = '0'
if m[1] ~= 'question' then after_close = '1' end
return {'ok', record, tostring(redis.call('HLEN', KEYS[4])), m[5], tostring(streak),
  after_close}
"""

# KEYS: board, players, answers of the question. ARGV: player ids.
# Returns per known player: id, score, rank (0 if off the board), streak, kicked, answer.
STANDINGS = """
local out = {}
for _, pid in ipairs(ARGV) do
  local raw = redis.call('HGET', KEYS[2], pid)
  if raw then
    local p = cjson.decode(raw)
    local rank = 0
    local score = redis.call('ZSCORE', KEYS[1], pid)
    if score then rank = redis.call('ZCOUNT', KEYS[1], '(' .. score, '+inf') + 1 end
    local kicked = '0'
    if p.kicked then kicked = '1' end
    table.insert(out, pid)
    table.insert(out, string.format('%d', p.score))
    table.insert(out, tostring(rank))
    table.insert(out, string.format('%d', p.streak))
    table.insert(out, kicked)
    table.insert(out, redis.call('HGET', KEYS[3], pid) or '')
  end
end
return out
"""

# KEYS: board, players. ARGV: limit. Returns id, nick, score triples, best first.
TOP = """
local out = {}
local ids = redis.call('ZREVRANGE', KEYS[1], 0, tonumber(ARGV[1]) - 1, 'WITHSCORES')
for k = 1, #ids, 2 do
  local raw = redis.call('HGET', KEYS[2], ids[k])
  if raw then
    table.insert(out, ids[k])
    table.insert(out, cjson.decode(raw).nick)
    table.insert(out, ids[k + 1])
  end
end
return out
"""
