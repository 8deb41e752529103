//! The Lua scripts of [`super::RedisCoordination`]. Each is a step that
//! must look and change at once, with no other client in between (take a
//! free lease, claim a queued request, write an outcome only while the
//! request is still ours).
//!
//! Some scripts build key names from a prefix and an id they read (the
//! request an idempotency key names): fine on one Redis, not on a Redis
//! Cluster, which this coordination does not support.
//!
//! A request's hash `{prefix}req:{id}` has the fields `session`, `request`
//! (JSON, without the payload), `payload` (sealed; removed when the request
//! finishes), `state` (queued | claimed | done), `claimed_by` (lease token),
//! `resumable` (1/0), `outcome` (JSON), `failed` (1 when the outcome is a
//! failure), `idem` and `msg` (the full names of its idempotency and message
//! keys, or empty), `message_id`, `recipient`, `delivery`, `delivery_reason`,
//! `created_at` and `updated_at` (unix ms).

use std::sync::LazyLock;

use redis::Script;

/// Shared by [`FINISH`] and [`ACQUIRE`]: records an outcome, erases the
/// payload, keeps the rest of the request (and its idempotency and message
/// keys) for the retention time, and wakes whoever waits for it through its
/// done list.
const MARK_DONE: &str = r#"
local function mark_done(req, id, done_key, outcome, failed, now, sent, retention, done_ttl)
  redis.call('HSET', req, 'state', 'done', 'outcome', outcome, 'failed', failed, 'updated_at', now)
  redis.call('HDEL', req, 'claimed_by', 'payload')
  -- A request queued by an earlier waotp carries its text in its JSON
  -- (payloads were not sealed apart then): that goes too. Newer JSON has
  -- neither key and is left byte for byte as it is.
  local json = redis.call('HGET', req, 'request')
  if json and (string.find(json, '"text"', 1, true) or string.find(json, '"assertion"', 1, true)) then
    local ok, r = pcall(cjson.decode, json)
    if ok and type(r) == 'table' and type(r.command) == 'table' then
      r.command.text = nil
      r.command.assertion = nil
      redis.call('HSET', req, 'request', cjson.encode(r))
    end
  end
  if sent == '1' and redis.call('HEXISTS', req, 'delivery') == 0 then
    redis.call('HSET', req, 'delivery', 'pending')
  end
  redis.call('PEXPIRE', req, retention)
  for _, field in ipairs({'idem', 'msg'}) do
    local key = redis.call('HGET', req, field)
    if key and key ~= '' and redis.call('GET', key) == id then
      redis.call('PEXPIRE', key, retention)
    end
  end
  redis.call('LPUSH', done_key, '1')
  redis.call('PEXPIRE', done_key, done_ttl)
end
"#;

/// Takes a free lease and, in the same step, takes back what earlier owners
/// claimed and never finished.
///
/// KEYS: lease, lease token counter, claimed set, outbox stream.
/// ARGV: owner id, ttl ms, request key prefix, done key prefix, abandoned
/// outcome, now ms, retention ms, done-list ttl ms.
/// Returns the new fencing token, or nil while someone holds the lease.
pub(super) static ACQUIRE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(&format!(
        "{MARK_DONE}{}",
        r#"
if redis.call('EXISTS', KEYS[1]) == 1 then return false end
local token = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], ARGV[1] .. ':' .. token, 'PX', ARGV[2])
-- Sends are carried out again under their message id; other commands are
-- answered (running them twice could surprise the caller).
for _, id in ipairs(redis.call('SMEMBERS', KEYS[3])) do
  local req = ARGV[3] .. id
  local r = redis.call('HMGET', req, 'state', 'resumable')
  if r[1] == 'claimed' then
    if r[2] == '1' then
      redis.call('HSET', req, 'state', 'queued', 'updated_at', ARGV[6])
      redis.call('HDEL', req, 'claimed_by')
      redis.call('XADD', KEYS[4], '*', 'id', id)
    else
      mark_done(req, id, ARGV[4] .. id, ARGV[5], '1', ARGV[6], '0', ARGV[7], ARGV[8])
    end
  end
  redis.call('SREM', KEYS[3], id)
end
return token
"#
    ))
});

/// Extends the lease only while it is still ours.
///
/// KEYS: lease. ARGV: our value, ttl ms. Returns 1 if extended.
pub(super) static RENEW: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"#,
    )
});

/// Deletes the lease only while it is still ours.
///
/// KEYS: lease. ARGV: our value. Returns 1 if deleted.
pub(super) static RELEASE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"#,
    )
});

/// Queues a request, or answers with the one its idempotency key names.
///
/// KEYS: request hash, outbox stream, session's request index, claimed set,
/// idempotency key ('' for none), message index key ('' for none).
/// ARGV: id, request JSON, session, claiming token ('' to queue), resumable
/// (1/0), message id, recipient, now ms, request key prefix, done key prefix,
/// sealed payload ('' for none).
/// Returns {'queued'}, {'pending', request JSON} or {'done', request JSON}.
/// Stream entries carry only the request id: nothing of a request is left
/// behind in the stream's memory or in an AOF rewrite once it is claimed.
pub(super) static SUBMIT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
local req, stream, index, claimed, idem, msg = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local id, now = ARGV[1], ARGV[8]
if idem ~= '' then
  local earlier = redis.call('GET', idem)
  if earlier then
    local ereq = ARGV[9] .. earlier
    local e = redis.call('HMGET', ereq, 'request', 'state', 'failed', 'msg')
    if e[1] then
      if e[2] ~= 'done' then return {'pending', e[1]} end
      if e[3] ~= '1' then return {'done', e[1]} end
      -- Failed: queued again, unclaimed, under its message id, so the
      -- recipient still gets one message.
      redis.call('HSET', ereq, 'state', 'queued', 'updated_at', now)
      redis.call('HDEL', ereq, 'claimed_by', 'outcome', 'failed', 'delivery', 'delivery_reason')
      -- Its payload was erased when it failed: this call's takes its place.
      if ARGV[11] ~= '' then redis.call('HSET', ereq, 'payload', ARGV[11]) end
      redis.call('PERSIST', ereq)
      redis.call('PERSIST', idem)
      if e[4] and e[4] ~= '' and redis.call('GET', e[4]) == earlier then
        redis.call('PERSIST', e[4])
      end
      -- The failure's wake-up must not end the next wait at once.
      redis.call('DEL', ARGV[10] .. earlier)
      redis.call('ZADD', index, now, earlier)
      redis.call('XADD', stream, '*', 'id', earlier)
      return {'pending', e[1]}
    end
    -- The key names a request that is gone (withdrawn, expired): it is free.
  end
end
redis.call('HSET', req, 'session', ARGV[3], 'request', ARGV[2], 'resumable', ARGV[5],
  'idem', idem, 'msg', msg, 'message_id', ARGV[6], 'recipient', ARGV[7],
  'created_at', now, 'updated_at', now)
if ARGV[11] ~= '' then redis.call('HSET', req, 'payload', ARGV[11]) end
if ARGV[4] ~= '' then
  -- The owner carries it out at once: claimed, and never on the stream.
  redis.call('HSET', req, 'state', 'claimed', 'claimed_by', ARGV[4])
  redis.call('SADD', claimed, id)
else
  redis.call('HSET', req, 'state', 'queued')
  redis.call('XADD', stream, '*', 'id', id)
end
redis.call('ZADD', index, now, id)
if idem ~= '' then redis.call('SET', idem, id) end
if msg ~= '' then redis.call('SET', msg, id) end
return {'queued'}
"#,
    )
});

/// Claims the stream's new entries for the lease holder. Reading, claiming
/// and acknowledging happen in one step, so no entry is ever read and left
/// unclaimed by an owner that died in between (nothing stays pending in the
/// consumer group).
///
/// KEYS: outbox stream, claimed set, lease.
/// ARGV: token, batch size, now ms, request key prefix.
/// Returns {last stream id, {request id, request JSON, sealed payload or '',
/// …}}; a `LEASE_LOST`
/// error when the lease is not held under this token.
pub(super) static CLAIM: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
local held = redis.call('GET', KEYS[3])
if not held or string.match(held, ':(%d+)$') ~= ARGV[1] then
  return redis.error_reply('LEASE_LOST the lease is no longer held under token ' .. ARGV[1])
end
-- Made here rather than at acquisition so a stream removed by `forget`
-- comes back with its group (an existing group answers BUSYGROUP, ignored).
redis.pcall('XGROUP', 'CREATE', KEYS[1], 'owners', '0', 'MKSTREAM')
local read = redis.call('XREADGROUP', 'GROUP', 'owners', 'owner', 'COUNT', ARGV[2],
  'STREAMS', KEYS[1], '>')
local claimed = {}
if read then
  for _, entry in ipairs(read[1][2]) do
    local fields, id = entry[2], nil
    for i = 1, #fields, 2 do
      if fields[i] == 'id' then id = fields[i + 1] end
    end
    if id then
      local req = ARGV[4] .. id
      -- Withdrawn, or already claimed under another entry: skipped.
      if redis.call('HGET', req, 'state') == 'queued' then
        redis.call('HSET', req, 'state', 'claimed', 'claimed_by', ARGV[1], 'updated_at', ARGV[3])
        redis.call('SADD', KEYS[2], id)
        local r = redis.call('HMGET', req, 'request', 'payload')
        table.insert(claimed, id)
        table.insert(claimed, r[1] or '')
        table.insert(claimed, r[2] or '')
      end
    end
    redis.call('XACK', KEYS[1], 'owners', entry[1])
    redis.call('XDEL', KEYS[1], entry[1])
  end
end
local info = redis.call('XINFO', 'STREAM', KEYS[1])
local last = '0-0'
for i = 1, #info, 2 do
  if info[i] == 'last-generated-id' then last = info[i + 1] end
end
return {last, claimed}
"#,
    )
});

/// Records an outcome, fenced: only while the request is claimed under this
/// token, so an owner that lost the session cannot overwrite its
/// successor's answer.
///
/// KEYS: request hash, claimed set, done key, session's request index.
/// ARGV: id, token, outcome JSON, failed (1/0), now ms, sent (1/0),
/// retention ms, done-list ttl ms, index cut-off ms.
/// Returns 1 if written.
pub(super) static FINISH: LazyLock<Script> = LazyLock::new(|| {
    Script::new(&format!(
        "{MARK_DONE}{}",
        r#"
local r = redis.call('HMGET', KEYS[1], 'state', 'claimed_by')
if r[1] ~= 'claimed' or r[2] ~= ARGV[2] then return 0 end
mark_done(KEYS[1], ARGV[1], KEYS[3], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7], ARGV[8])
redis.call('SREM', KEYS[2], ARGV[1])
redis.call('ZADD', KEYS[4], ARGV[5], ARGV[1])
-- The index only serves `forget`; ids past retention have expired anyway.
redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', '(' .. ARGV[9])
return 1
"#
    ))
});

/// Deletes a request no owner has claimed yet.
///
/// KEYS: request hash. ARGV: id, request index key prefix.
/// Returns 1 if deleted. Its stream entry stays; [`CLAIM`] skips it.
pub(super) static WITHDRAW: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
local r = redis.call('HMGET', KEYS[1], 'state', 'idem', 'msg', 'session')
if r[1] ~= 'queued' then return 0 end
redis.call('DEL', KEYS[1])
for i = 2, 3 do
  if r[i] and r[i] ~= '' and redis.call('GET', r[i]) == ARGV[1] then
    redis.call('DEL', r[i])
  end
end
redis.call('ZREM', ARGV[2] .. r[4], ARGV[1])
return 1
"#,
    )
});

/// Moves a message's delivery status (the caller decides the new one).
///
/// KEYS: message index key. ARGV: status, has a reason (1/0), reason, now
/// ms, request key prefix. Returns 1 if the message is known.
pub(super) static RECORD_DELIVERY: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
local id = redis.call('GET', KEYS[1])
if not id then return 0 end
local req = ARGV[5] .. id
if redis.call('EXISTS', req) == 0 then return 0 end
redis.call('HSET', req, 'delivery', ARGV[1], 'updated_at', ARGV[4])
if ARGV[2] == '1' then
  redis.call('HSET', req, 'delivery_reason', ARGV[3])
else
  redis.call('HDEL', req, 'delivery_reason')
end
return 1
"#,
    )
});

/// Removes a batch of a forgotten session's requests with their
/// idempotency keys, message keys and done lists.
///
/// KEYS: session's request index. ARGV: request key prefix, done key
/// prefix, ids…. Returns how many ids it was given.
pub(super) static FORGET_REQUESTS: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
for i = 3, #ARGV do
  local id = ARGV[i]
  local req = ARGV[1] .. id
  local r = redis.call('HMGET', req, 'idem', 'msg')
  for j = 1, 2 do
    if r[j] and r[j] ~= '' and redis.call('GET', r[j]) == id then
      redis.call('DEL', r[j])
    end
  end
  redis.call('DEL', req, ARGV[2] .. id)
  redis.call('ZREM', KEYS[1], id)
end
return #ARGV - 2
"#,
    )
});

/// Takes one of a session's new chats of a day for a phone.
///
/// KEYS: the day's set of phones. ARGV: phone, per-day budget, the set's
/// lifetime in ms (two days: it only limits its own day). Returns 1 when
/// the phone already took one that day or one was left, 0 when spent.
pub(super) static TAKE_NEW_CHAT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
if redis.call('SISMEMBER', KEYS[1], ARGV[1]) == 1 then return 1 end
if redis.call('SCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
redis.call('SADD', KEYS[1], ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
"#,
    )
});
