"""The Lua scripts of the Redis storage (pure text; shared by sync and async).

Every change that must be seen whole is one script, so it is atomic on the server:
a reader sees the old entry or the new one, never a mix. The scripts build field
names from a variant's raw bytes with the prefixes of ``_records`` (``h:``, ``b:``,
``m:``, ``n:``, ``a:``). A body field is ``=`` + inline bytes or ``#`` + the id of a
chunk list under the body key prefix; any other value is from an older layout, whose
non-empty value was a list id too.
"""

from __future__ import annotations

__all__ = ["COMMIT", "DROP", "FORGET", "HITS", "OPEN", "RELEASE", "REMOVE", "UPDATE"]

# extend(key, ttl): make a key's expiry at least `ttl` ms (ttl < 0: never expire).
# set_expiry(key, ttl): make it exactly `ttl` ms (ttl < 0: never expire).
# list_id(value): the chunk list a body field names, or nil (inline, empty, absent).
# retire(prefix, value, linger): let a body list that is no longer referenced expire soon.
_HELPERS = """
local function extend(key, ttl)
  if ttl < 0 then
    redis.call('PERSIST', key)
    return
  end
  local left = redis.call('PTTL', key)
  if left >= 0 and left < ttl then
    redis.call('PEXPIRE', key, ttl)
  end
end
local function set_expiry(key, ttl)
  if ttl < 0 then redis.call('PERSIST', key) else redis.call('PEXPIRE', key, ttl) end
end
local function list_id(value)
  if not value or value == '' then return nil end
  local mark = string.sub(value, 1, 1)
  if mark == '=' then return nil end
  if mark == '#' then return string.sub(value, 2) end
  return value
end
local function retire(prefix, value, linger)
  local id = list_id(value)
  if id then redis.call('PEXPIRE', prefix .. id, linger) end
end
local function forget(index, v, field, prefix, linger)
  if redis.call('HGET', index, 'b:' .. v) ~= field then return 0 end
  retire(prefix, field, linger)
  redis.call('HDEL', index, 'h:' .. v, 'b:' .. v, 'm:' .. v, 'n:' .. v, 'a:' .. v)
  return 1
end
"""

COMMIT = (
    _HELPERS
    + """
-- KEYS: index, staged body list. ARGV: variant, head, body field, chunks already staged,
-- last chunk ('' = none), stamp, hits ('' = none), last hit ('' = none), expiry ms
-- (-1 = none), body key prefix, retired body ms. Returns 0 if staged chunks are missing.
local index, staged = KEYS[1], KEYS[2]
local v, body = ARGV[1], ARGV[3]
local ttl, prefix, linger = tonumber(ARGV[9]), ARGV[10], tonumber(ARGV[11])
if string.sub(body, 1, 1) == '#' then
  if redis.call('LLEN', staged) ~= tonumber(ARGV[4]) then
    return 0
  end
  if ARGV[5] ~= '' then redis.call('RPUSH', staged, ARGV[5]) end
  set_expiry(staged, ttl)
end
local existed = redis.call('EXISTS', index)
local old = redis.call('HGET', index, 'b:' .. v)
if old ~= body then retire(prefix, old, linger) end
redis.call('HSET', index, 'h:' .. v, ARGV[2], 'b:' .. v, body, 'm:' .. v, ARGV[6])
redis.call('HDEL', index, 'n:' .. v, 'a:' .. v)
if ARGV[7] ~= '' then redis.call('HSET', index, 'n:' .. v, ARGV[7]) end
if ARGV[8] ~= '' then redis.call('HSET', index, 'a:' .. v, ARGV[8]) end
if existed == 0 then
  if ttl >= 0 then redis.call('PEXPIRE', index, ttl) end
else
  extend(index, ttl)
end
return 1
"""
)

UPDATE = (
    _HELPERS
    + """
-- KEYS: index. ARGV: variant, head, stamp, expiry ms (-1 = none), body key prefix.
-- Replaces the head of the stored response with that stamp; hits stay as they are.
local index, v = KEYS[1], ARGV[1]
if redis.call('HGET', index, 'm:' .. v) ~= ARGV[3] then
  return 0
end
local ttl = tonumber(ARGV[4])
redis.call('HSET', index, 'h:' .. v, ARGV[2])
local id = list_id(redis.call('HGET', index, 'b:' .. v))
if id then set_expiry(ARGV[5] .. id, ttl) end
extend(index, ttl)
return 1
"""
)

HITS = (
    _HELPERS
    + """
-- KEYS: one index per hit. ARGV: body key prefix, then per hit: variant, stamp, count,
-- last hit, expiry ms ('' = leave it). Adds the hits to the stored response with that
-- stamp, keeps the latest hit time and extends the expiry. Returns how many applied.
local prefix, applied = ARGV[1], 0
for i = 1, #KEYS do
  local index, j = KEYS[i], 2 + (i - 1) * 5
  local v = ARGV[j]
  if redis.call('HGET', index, 'm:' .. v) == ARGV[j + 1] then
    redis.call('HINCRBY', index, 'n:' .. v, ARGV[j + 2])
    local last = redis.call('HGET', index, 'a:' .. v)
    if not last or (tonumber(last) or 0) < tonumber(ARGV[j + 3]) then
      redis.call('HSET', index, 'a:' .. v, ARGV[j + 3])
    end
    if ARGV[j + 4] ~= '' then
      local ttl = tonumber(ARGV[j + 4])
      local id = list_id(redis.call('HGET', index, 'b:' .. v))
      if id then extend(prefix .. id, ttl) end
      extend(index, ttl)
    end
    applied = applied + 1
  end
end
return applied
"""
)

REMOVE = (
    _HELPERS
    + """
-- KEYS: index. ARGV: body key prefix, retired body ms, mode ('any' or 'match'), then per
-- variant: the variant and, in 'match' mode, its head as read ('' if none). Removes those
-- variants ('match': only if their head is still the one read); returns how many.
local index, prefix, linger, match = KEYS[1], ARGV[1], tonumber(ARGV[2]), ARGV[3] == 'match'
local step = match and 2 or 1
local removed = 0
for i = 4, #ARGV, step do
  local v = ARGV[i]
  local head = redis.call('HGET', index, 'h:' .. v)
  local body = redis.call('HGET', index, 'b:' .. v)
  if (head or body) and (not match or (head or '') == ARGV[i + 1]) then
    retire(prefix, body, linger)
    redis.call('HDEL', index, 'h:' .. v, 'b:' .. v, 'm:' .. v, 'n:' .. v, 'a:' .. v)
    removed = removed + 1
  end
end
return removed
"""
)

DROP = (
    _HELPERS
    + """
-- KEYS: index. ARGV: body key prefix, retired body ms. Removes every variant; returns how many.
local fields = redis.call('HGETALL', KEYS[1])
local removed = 0
for i = 1, #fields, 2 do
  local kind = string.sub(fields[i], 1, 2)
  if kind == 'b:' then
    retire(ARGV[1], fields[i + 1], tonumber(ARGV[2]))
  elseif kind == 'h:' then
    removed = removed + 1
  end
end
redis.call('DEL', KEYS[1])
return removed
"""
)

OPEN = (
    _HELPERS
    + """
-- KEYS: body list, index. ARGV: variant, its body field ('#' .. id), body key prefix,
-- retired body ms, then the chunks expected, the bytes of a full chunk and of the last one
-- ('' each when the size is unknown). Returns the first chunk of a whole body. When the
-- list is gone or is not whole (a chunk lost or cut short), removes the variant if the
-- index still names that list, and returns false.
local list, index, v, field = KEYS[1], KEYS[2], ARGV[1], ARGV[2]
local first = redis.call('LINDEX', list, 0)
if first and ARGV[5] ~= '' then
  local count = redis.call('LLEN', list)
  local last = string.len(redis.call('LINDEX', list, -1))
  if count ~= tonumber(ARGV[5]) or last ~= tonumber(ARGV[7])
      or (count > 1 and string.len(first) ~= tonumber(ARGV[6])) then
    first = false
  end
end
if first then return first end
forget(index, v, field, ARGV[3], tonumber(ARGV[4]))
return false
"""
)

FORGET = (
    _HELPERS
    + """
-- KEYS: index. ARGV: variant, its body field, body key prefix, retired body ms.
-- Removes the variant if it still has that body field (one found broken while read).
return forget(KEYS[1], ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4]))
"""
)

RELEASE = """
-- KEYS: lease. ARGV: token. Deletes the lease only while that token holds it; returns 1 if
-- it did (a lapsed lease taken over since belongs to its new holder and stays).
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""
