//! The Lua scripts of [`RedisStore`](super::RedisStore).
//!
//! Redis runs a script as one atomic step: no other command, from this
//! process or another, runs between its reads and its writes. That is what
//! makes a guess count exactly once and a limit slot go to exactly one caller,
//! so every trait method that reads before it writes is one script here.
//!
//! Conventions shared by all scripts:
//!
//! * `KEYS` name the keys the Rust side can name in advance; keys found by
//!   following an index (a verification id or message id to its recipient's
//!   record) are built in Lua from the key prefix, passed as `ARGV[1]` to the
//!   record scripts. The layout is described in [`super`].
//! * Times are arguments (the caller's clock, Unix ms), never Redis's clock,
//!   so a manual clock in tests drives them like any other store.
//! * Numbers written back from Lua go through `%.0f`: Redis would turn a Lua
//!   number above 10^14 into scientific notation.
//! * Record scripts apply the same rules as [`crate::otp::apply_check`] and
//!   [`crate::otp::effective_state`]; limit scripts apply
//!   [`crate::otp::send_decision`], [`crate::otp::window_decision`] and
//!   [`crate::otp::pace_decision`]. The tests run them side by side.

use std::sync::LazyLock;

use redis::Script;

/// Key names and the record reader, for the scripts that touch records.
///
/// A record is damaged when a field the Rust reader needs is missing or
/// malformed; it then reads as locked (`max_attempts_reached`), exactly as
/// `super::hash::decode` reads it, so Lua and Rust never disagree about a
/// damaged record and neither fails on one.
const RECORD_PRELUDE: &str = r#"
local P = ARGV[1]
local function rec_key(recipient) return P .. 'otp:' .. recipient end
local function vid_key(vid) return P .. 'otp-vid:' .. vid end
local function msg_key(msg) return P .. 'otp-msg:' .. msg end
local EXPIRY = P .. 'otp-exp'

-- A decimal field no larger than `limit` (a digit string), or nil.
local U64, U32 = '18446744073709551615', '4294967295'
local function number(s, limit)
  if not s or #s == 0 or #s > #limit or string.find(s, '%D') then return nil end
  if #s == #limit and s > limit then return nil end
  return tonumber(s)
end

local STATES = {pending = true, approved = true, canceled = true,
                expired = true, max_attempts_reached = true}

-- The fields the verification rule needs, or nil when there is no record.
local function load(key)
  local f = redis.call('HMGET', key, 'vid', 'sid', 'mac', 'cat', 'exp', 'att', 'max', 'st')
  -- Only a hash without any of them needs a second look.
  if not (f[1] or f[2] or f[3] or f[4] or f[5] or f[6] or f[7] or f[8])
     and redis.call('EXISTS', key) == 0 then
    return nil
  end
  local r = {vid = f[1] or '', sid = f[2] or '', mac = f[3],
             exp = number(f[5], U64), att = number(f[6], U32), max = number(f[7], U32),
             st = f[8]}
  local whole = f[1] and f[2] and f[3] and #f[3] == 32 and number(f[4], U64)
                and r.exp and r.att and r.max and STATES[r.st or '']
  if not whole then r.st = 'max_attempts_reached' end
  return r
end

-- `effective_state(record, now) == Pending`.
local function pending_at(r, now)
  return r.st == 'pending' and now < r.exp
end

-- Makes the name/value pairs ARGV[first..] the only record of `recipient`,
-- with its index keys, all expiring after `ttl` ms. Another recipient's record
-- with the same verification id goes too: an id names one record.
--
-- Every redis.call costs a few microseconds, and `put` runs once per code
-- issued, so this reads and deletes with as few calls as it can.
local function replace(recipient, ttl, first)
  local key = rec_key(recipient)
  local pairs_, new = {}, {}
  for i = first, #ARGV, 2 do
    new[ARGV[i]] = ARGV[i + 1]
    pairs_[#pairs_ + 1] = ARGV[i]
    pairs_[#pairs_ + 1] = ARGV[i + 1]
  end
  -- The previous record goes with its index keys, in one DEL (none for a
  -- new recipient). Its verification index points at it (taking an id over
  -- deletes the record that had it); its message index is deleted whoever it
  -- points at, as the memory store does. Fields this reads as absent are
  -- either rewritten below or unknown to the reader, so such a hash is
  -- simply overwritten.
  local old = redis.call('HMGET', key, 'vid', 'msg', 'dlv', 'dlr', 'idk')
  if old[1] or old[2] or old[3] or old[4] or old[5] then
    local doomed = {key}
    if old[1] then doomed[#doomed + 1] = vid_key(old[1]) end
    if old[2] then doomed[#doomed + 1] = msg_key(old[2]) end
    redis.call('DEL', unpack(doomed))
  end
  local other = redis.call('SET', vid_key(new.vid), recipient, 'PX', ttl, 'GET')
  if other and other ~= recipient then
    local other_key = rec_key(other)
    local o = redis.call('HMGET', other_key, 'vid', 'msg')
    if o[1] == new.vid then
      local doomed = {other_key}
      if o[2] then doomed[2] = msg_key(o[2]) end
      redis.call('DEL', unpack(doomed))
      redis.call('ZREM', EXPIRY, other)
    end
  end
  redis.call('HSET', key, unpack(pairs_))
  redis.call('PEXPIRE', key, ttl)
  if new.msg then redis.call('SET', msg_key(new.msg), recipient, 'PX', ttl) end
  redis.call('ZADD', EXPIRY, new.exp, recipient)
end
"#;

/// `put`. ARGV: prefix, recipient, ttl ms, field/value pairs.
const PUT: &str = r#"
replace(ARGV[2], ARGV[3], 4)
return 1
"#;

/// `check`, i.e. `apply_check` written back. KEYS: record. ARGV: prefix,
/// candidate MAC (32 raw bytes), now. Answers {outcome, attempts_left, vid, sid};
/// outcome `none` when there is no record.
const CHECK: &str = r#"
local r = load(KEYS[1])
if not r then return {'none', 0, '', ''} end
local function answer(outcome, left) return {outcome, left or 0, r.vid, r.sid} end
if r.st == 'approved' or r.st == 'canceled' then return answer('not_found') end
if r.st == 'expired' then return answer('expired') end
if r.st == 'max_attempts_reached' then return answer('max_attempts_reached') end
if tonumber(ARGV[3]) >= r.exp then
  redis.call('HSET', KEYS[1], 'st', 'expired')
  return answer('expired')
end
if r.att >= r.max then
  redis.call('HSET', KEYS[1], 'st', 'max_attempts_reached')
  return answer('max_attempts_reached')
end
local att = string.format('%.0f', r.att + 1)
-- Not `r.mac == ARGV[2]` on the MACs themselves: where two MACs first
-- differ must not show in the time taken (macs_equal is constant-time for the
-- same reason). Comparing their SHA-1 digests instead ties that time to
-- digests nobody can steer. (A byte-by-byte loop in Lua does the same but
-- made the whole check half again as slow.)
local candidate = ARGV[2]
if #candidate == 32 and redis.sha1hex(r.mac) == redis.sha1hex(candidate) then
  redis.call('HSET', KEYS[1], 'att', att, 'st', 'approved')
  return answer('approved')
end
local left = r.max - (r.att + 1)
if left == 0 then
  redis.call('HSET', KEYS[1], 'att', att, 'st', 'max_attempts_reached')
else
  redis.call('HSET', KEYS[1], 'att', att)
end
return answer('invalid', left)
"#;

/// `cancel`. KEYS: record. ARGV: prefix, now. Answers the record's fields
/// afterwards (flat name/value list), or nil.
const CANCEL: &str = r#"
local r = load(KEYS[1])
if not r then return false end
if pending_at(r, tonumber(ARGV[2])) then
  redis.call('HSET', KEYS[1], 'st', 'canceled')
end
return redis.call('HGETALL', KEYS[1])
"#;

/// `withdraw`. KEYS: record. ARGV: prefix, verification id, now, then either
/// nothing (cancel) or the previous record to restore: its recipient, ttl ms
/// and field/value pairs. The Rust side only passes a previous record that is
/// itself pending at `now`.
const WITHDRAW: &str = r#"
local r = load(KEYS[1])
if not r or r.vid ~= ARGV[2] or not pending_at(r, tonumber(ARGV[3])) then return 0 end
if #ARGV > 3 then
  replace(ARGV[4], ARGV[5], 6)
else
  redis.call('HSET', KEYS[1], 'st', 'canceled')
end
return 1
"#;

/// `set_message_id` (and `set_sender`). KEYS: verification index. ARGV:
/// prefix, verification id, message id, and optionally the session that
/// carries the code now. Answers 1 when the verification was found.
const SET_MESSAGE_ID: &str = r#"
local recipient = redis.call('GET', KEYS[1])
if not recipient then return 0 end
local key = rec_key(recipient)
local cur = redis.call('HMGET', key, 'vid', 'msg', 'dlv')
if cur[1] ~= ARGV[2] then return 0 end
if cur[2] and cur[2] ~= ARGV[3] then redis.call('DEL', msg_key(cur[2])) end
redis.call('HSET', key, 'msg', ARGV[3])
if ARGV[4] then redis.call('HSET', key, 'sid', ARGV[4]) end
if not cur[3] then redis.call('HSET', key, 'dlv', 'pending') end
-- The index lives exactly as long as the record.
local ttl = redis.call('PTTL', key)
if ttl > 0 then
  redis.call('SET', msg_key(ARGV[3]), recipient, 'PX', ttl)
else
  redis.call('SET', msg_key(ARGV[3]), recipient)
end
return 1
"#;

/// `record_delivery`. KEYS: message index. ARGV: prefix, message id, five
/// flags (`1` = the reported status replaces the current one, for current =
/// pending, sent, delivered, read, failed), the reported status name, its
/// failure reason. The flags are `DeliveryStatus::advance` evaluated on the
/// Rust side, so the rule lives in one place and Lua only looks it up.
const RECORD_DELIVERY: &str = r#"
local recipient = redis.call('GET', KEYS[1])
if not recipient then return 0 end
local key = rec_key(recipient)
local cur = redis.call('HMGET', key, 'msg', 'dlv')
if cur[1] ~= ARGV[2] then return 0 end
local AT = {pending = 1, sent = 2, delivered = 3, read = 4, failed = 5}
-- Missing or unknown reads as pending, as in SqliteStore.
local at = AT[cur[2] or ''] or 1
if string.sub(ARGV[3], at, at) == '1' then
  redis.call('HSET', key, 'dlv', ARGV[4])
  if ARGV[4] == 'failed' then
    redis.call('HSET', key, 'dlr', ARGV[5])
  else
    redis.call('HDEL', key, 'dlr')
  end
elseif cur[2] ~= 'pending' and at == 1 then
  redis.call('HSET', key, 'dlv', 'pending')
  redis.call('HDEL', key, 'dlr')
end
return 1
"#;

/// `remove_expired`, one batch. KEYS: expiry index. ARGV: prefix, expired
/// before (inclusive), batch size. Answers {records deleted, index entries
/// processed}; fewer processed than the batch size means done.
const REMOVE_EXPIRED: &str = r#"
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[2], 'LIMIT', 0, ARGV[3])
local removed = 0
for _, recipient in ipairs(due) do
  local key = rec_key(recipient)
  local f = redis.call('HMGET', key, 'vid', 'msg')
  if f[1] then redis.call('DEL', vid_key(f[1])) end
  if f[2] then redis.call('DEL', msg_key(f[2])) end
  -- A record Redis already dropped by its own expiry is not counted.
  removed = removed + redis.call('DEL', key)
  redis.call('ZREM', KEYS[1], recipient)
end
return {removed, #due}
"#;

/// The sliding window shared by the send and verification scripts.
///
/// Answers are {1, 0, 0} for granted and {0, retry_after_ms, rule} for
/// refused, rule being 1 cooldown, 2 sends, 3 verifications, 4 pacing.
const WINDOW_PRELUDE: &str = r#"
local function fmt(n) return string.format('%.0f', n) end

-- window_decision on the list `key` (granted times, oldest first, already
-- read into `log`): forgets the times that left the window, then refuses with
-- the time until the oldest leaves, or records `now` and keeps the list for
-- `keep_ms`.
local function window(key, log, max, span, now, keep_ms, rule)
  local gone = 0
  while gone < #log and (tonumber(log[gone + 1]) or 0) + span <= now do
    gone = gone + 1
  end
  if gone > 0 then redis.call('LTRIM', key, gone, -1) end
  if #log - gone >= max then
    local oldest = tonumber(log[gone + 1] or '') or now
    return {0, math.max(oldest + span - now, 0), rule}
  end
  redis.call('RPUSH', key, fmt(now))
  redis.call('PEXPIRE', key, fmt(keep_ms))
  return {1, 0, 0}
end
"#;

/// `take_send_slot` (`send_decision`). KEYS: send log. ARGV: now, cooldown
/// ms, window max (empty: no window), window span ms, keep ms.
const SEND_SLOT: &str = r#"
local key, now, cooldown = KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2])
local keep = tonumber(ARGV[5])
local log = redis.call('LRANGE', key, 0, -1)
if #log > 0 then
  local ready = (tonumber(log[#log]) or 0) + cooldown
  if now < ready then return {0, ready - now, 1} end
end
if ARGV[3] == '' then
  -- Without a window only the latest send matters (for the cooldown).
  redis.call('DEL', key)
  redis.call('RPUSH', key, fmt(now))
  redis.call('PEXPIRE', key, fmt(keep))
  return {1, 0, 0}
end
return window(key, log, tonumber(ARGV[3]), tonumber(ARGV[4]), now, keep, 2)
"#;

/// `take_verify_slot` (`window_decision`). KEYS: verification log. ARGV:
/// now, window max, window span ms, keep ms.
const VERIFY_SLOT: &str = r#"
local log = redis.call('LRANGE', KEYS[1], 0, -1)
return window(KEYS[1], log, tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[1]),
              tonumber(ARGV[4]), 3)
"#;

/// `reserve_pace` (`pace_decision`). KEYS: the session's next free slot.
/// ARGV: now, gap after this send (min gap + capped jitter), max wait ms,
/// keep margin ms. Answers like the window scripts, with the wait in granted
/// answers.
const PACE: &str = r#"
local now, gap, max_wait = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local next_free = tonumber(redis.call('GET', KEYS[1]) or '0') or 0
local slot = math.max(next_free, now)
local wait = slot - now
if wait > max_wait then return {0, wait - max_wait, 4} end
local after = slot + gap
if after > now then
  redis.call('SET', KEYS[1], fmt(after), 'PX', fmt(after - now + tonumber(ARGV[4])))
else
  redis.call('DEL', KEYS[1])
end
return {1, wait, 0}
"#;

/// Every script, hashed once per process.
pub(super) struct Scripts {
    pub(super) put: Script,
    pub(super) check: Script,
    pub(super) cancel: Script,
    pub(super) withdraw: Script,
    pub(super) set_message_id: Script,
    pub(super) record_delivery: Script,
    pub(super) remove_expired: Script,
    pub(super) send_slot: Script,
    pub(super) verify_slot: Script,
    pub(super) pace: Script,
}

/// The scripts; `redis::Script` sends EVALSHA and loads the script itself
/// when Redis does not know it yet (a fresh or restarted server).
pub(super) static SCRIPTS: LazyLock<Scripts> = LazyLock::new(|| {
    let record = |body: &str| Script::new(&[RECORD_PRELUDE, body].concat());
    let limit = |body: &str| Script::new(&[WINDOW_PRELUDE, body].concat());
    Scripts {
        put: record(PUT),
        check: record(CHECK),
        cancel: record(CANCEL),
        withdraw: record(WITHDRAW),
        set_message_id: record(SET_MESSAGE_ID),
        record_delivery: record(RECORD_DELIVERY),
        remove_expired: record(REMOVE_EXPIRED),
        send_slot: limit(SEND_SLOT),
        verify_slot: limit(VERIFY_SLOT),
        pace: limit(PACE),
    }
});
