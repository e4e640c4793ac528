"""Lua scripts: every shared counter changes inside Redis in one atomic step, never as a
read-modify-write from Python. The algorithm mirrors ``store_local`` line for line."""

ACQUIRE = """
-- KEYS: 1 rpm hash, 2 tpm hash, 3 rpd counter, 4 concurrency zset, 5 vendor block
-- ARGV: 1 now_ms, 2 bucket_ms, 3 buckets, 4 rpm, 5 tpm, 6 est_tokens, 7 rpd, 8 ms_to_reset,
--       9 max_concurrent, 10 lease_id, 11 lease_ttl_ms        (a limit of 0 = none)
local now = tonumber(ARGV[1])
local bms = tonumber(ARGV[2])
local nb = tonumber(ARGV[3])
local cur = math.floor(now / bms)
local pt = redis.call('PTTL', KEYS[5])
if pt > 0 then
  return {0, pt, redis.call('GET', KEYS[5]) or 'blocked by the vendor'}
end
local function window(key, need, limit)
  local lo = cur - nb
  local flat = redis.call('HGETALL', key)
  local used = 0
  local idxs = {}
  local vals = {}
  for i = 1, #flat, 2 do
    local idx = tonumber(flat[i])
    local v = tonumber(flat[i + 1])
    if idx < lo then
      redis.call('HDEL', key, flat[i])
    else
      used = used + v
      idxs[#idxs + 1] = idx
      vals[idx] = v
    end
  end
  if used + need <= limit then return used, -1 end
  table.sort(idxs)
  local acc = 0
  for _, idx in ipairs(idxs) do
    acc = acc + vals[idx]
    if used - acc + need <= limit then return used, (idx + nb + 1) * bms - now end
  end
  return used, (cur + nb + 1) * bms - now
end
local rpm = tonumber(ARGV[4])
local tpm = tonumber(ARGV[5])
local need = tonumber(ARGV[6])
local rpd = tonumber(ARGV[7])
local conc = tonumber(ARGV[9])
local ru, tu, du, cu = 0, 0, 0, 0
local w
if rpm > 0 then
  ru, w = window(KEYS[1], 1, rpm)
  if w >= 0 then return {0, w, 'rpm limit ' .. rpm .. ' reached'} end
end
if tpm > 0 then
  if need > tpm then need = tpm end
  tu, w = window(KEYS[2], need, tpm)
  if w >= 0 then return {0, w, 'tpm limit ' .. tpm .. ' reached'} end
end
if rpd > 0 then
  du = tonumber(redis.call('GET', KEYS[3]) or '0')
  if du + 1 > rpd then return {0, tonumber(ARGV[8]), 'rpd limit ' .. rpd .. ' reached'} end
end
if conc > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', now)
  cu = redis.call('ZCARD', KEYS[4])
  if cu + 1 > conc then return {0, -1, 'max_concurrent ' .. conc .. ' reached'} end
end
local ttl = (nb + 2) * bms
if rpm > 0 then
  redis.call('HINCRBY', KEYS[1], cur, 1)
  redis.call('PEXPIRE', KEYS[1], ttl)
  ru = ru + 1
end
if tpm > 0 then
  redis.call('HINCRBY', KEYS[2], cur, need)
  redis.call('PEXPIRE', KEYS[2], ttl)
  tu = tu + need
end
if rpd > 0 then
  du = redis.call('INCR', KEYS[3])
  redis.call('PEXPIRE', KEYS[3], tonumber(ARGV[8]) + 3600000)
end
if conc > 0 then
  redis.call('ZADD', KEYS[4], now + tonumber(ARGV[11]), ARGV[10])
  redis.call('PEXPIRE', KEYS[4], tonumber(ARGV[11]))
  cu = cu + 1
end
return {1, cur, need, ru, tu, du, cu}
"""

RELEASE = """
-- KEYS: 1 tpm hash, 2 concurrency zset; ARGV: 1 bucket, 2 token delta, 3 lease_id
local d = tonumber(ARGV[2])
if d ~= 0 and redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then
  local v = redis.call('HINCRBY', KEYS[1], ARGV[1], d)
  if v < 0 then redis.call('HSET', KEYS[1], ARGV[1], 0) end
end
redis.call('ZREM', KEYS[2], ARGV[3])
return 1
"""

BLOCK = """
-- KEYS: 1 vendor block; ARGV: 1 ms, 2 why. Only ever lengthens a block.
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[1]) then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[1])
end
return 1
"""

USAGE = """
-- KEYS: 1 rpm hash, 2 tpm hash, 3 rpd counter, 4 concurrency zset; ARGV: 1 now_ms, 2 bucket_ms, 3 buckets
local now = tonumber(ARGV[1])
local lo = math.floor(now / tonumber(ARGV[2])) - tonumber(ARGV[3])
local function sum(key)
  local flat = redis.call('HGETALL', key)
  local s = 0
  for i = 1, #flat, 2 do
    if tonumber(flat[i]) >= lo then s = s + tonumber(flat[i + 1]) end
  end
  return s
end
return {sum(KEYS[1]), sum(KEYS[2]), tonumber(redis.call('GET', KEYS[3]) or '0'),
        redis.call('ZCOUNT', KEYS[4], '(' .. now, '+inf')}
"""

# Circuit breaker state shared by every instance: one hash per deployment with
# state (open|closed), until_ms, opens, why, ver, probe (owner), probe_until.
HEALTH_SYNC = """
-- KEYS: one breaker hash per deployment, in the order of ARGV's deployments
-- ARGV: 1 now_ms, 2 instance id, 3 probe_timeout_ms, then per deployment 5 values:
--       op (none|open|close|claim), until_ms, opens, why, seen_ver
local now = tonumber(ARGV[1])
local me = ARGV[2]
local pto = tonumber(ARGV[3])
local out = {}
for i, key in ipairs(KEYS) do
  local b = 3 + (i - 1) * 5
  local op = ARGV[b + 1]
  local h = redis.call('HMGET', key, 'state', 'until', 'opens', 'why', 'ver', 'probe', 'probe_until')
  local state = h[1] or 'closed'
  local untl = tonumber(h[2] or '0')
  local ver = tonumber(h[5] or '0')
  if op == 'open' then
    local u = tonumber(ARGV[b + 2])
    if state ~= 'open' or untl < u then
      local opens = math.max(tonumber(h[3] or '0'), tonumber(ARGV[b + 3]))
      ver = ver + 1
      redis.call('HSET', key, 'state', 'open', 'until', u, 'opens', opens, 'why', ARGV[b + 4], 'ver', ver,
                 'probe', '', 'probe_until', 0)
    end
  elseif op == 'close' then
    if state == 'open' and untl <= now then
      ver = ver + 1
      redis.call('HSET', key, 'state', 'closed', 'why', ARGV[b + 4], 'ver', ver, 'probe', '',
                 'probe_until', 0, 'closed_at', now)
    end
  elseif op == 'claim' then
    if state == 'open' and untl <= now then
      local owner = h[6] or ''
      if owner == '' or tonumber(h[7] or '0') < now then
        redis.call('HSET', key, 'probe', me, 'probe_until', now + pto)
      end
    end
  end
  redis.call('PEXPIRE', key, 86400000)
  local r = redis.call('HMGET', key, 'state', 'until', 'opens', 'why', 'ver', 'probe')
  out[i] = {r[1] or 'closed', tonumber(r[2] or '0'), tonumber(r[3] or '0'), r[4] or '', tonumber(r[5] or '0'),
            r[6] or ''}
end
return out
"""
