-- wrk script: what happened in each 100 ms of the run, for bench/rollout/apps's timeline.
--
-- wrk has Lua hooks for a request and a response, but none for a socket error. Its threads
-- count everything in C, in their `thread` struct (wrk.h): responses in `complete`, errors
-- in `errors` (connect, read, write, status >= 400, timeout). wrk runs LuaJIT, so this script
-- reads those counters through the FFI, from the `wrk.thread` userdata that wrk gives every
-- thread's Lua state, each time `request()` is called: that is once per request written,
-- right after the previous response on that connection or the reconnection after an error.
-- The counters read in a bucket, minus those read in the bucket before, are what happened in
-- it (to within the time between an error and the reconnection's request, a few ms).
--
-- The struct layout is wrk 4.1's (Debian 12's wrk 4.1.0). done() checks it: the counters read
-- through the FFI at the end must equal wrk's own summary, or the TIMELINE line says
-- "check=mismatch" and bench/rollout/apps draws no timeline from the run.
--
-- Buckets are BUCKET_MS (environment TIMELINE_BUCKET_MS, default 100) of CLOCK_BOOTTIME, the
-- clock of /proc/uptime, which the shell reads when it sends a reload: both sides share it.
--
-- Output (done(), on wrk's standard output):
--   BUCKET <start ms> <requests sent> <responses> <socket errors> <status >= 400>
--   TIMELINE sent=N answered=N errors=N status=N check=ok|mismatch
--   RESULT ... (as report.lua)
local ffi = require("ffi")

ffi.cdef [[
struct tl_timespec { long tv_sec; long tv_nsec; };
int clock_gettime(int clock, struct tl_timespec *ts);
struct tl_wrk_errors { uint32_t connect, read, write, status, timeout; };
struct tl_wrk_thread {
  unsigned long thread;
  void *loop;
  void *addr;
  uint64_t connections, complete, requests, bytes, start;
  void *L;
  struct tl_wrk_errors errors;
  void *cs;
};
]]

local CLOCK_BOOTTIME = 7
local BUCKET_MS = tonumber(os.getenv("TIMELINE_BUCKET_MS") or "") or 100
local ts = ffi.new("struct tl_timespec")

local function bucket()
  ffi.C.clock_gettime(CLOCK_BOOTTIME, ts)
  return math.floor((tonumber(ts.tv_sec) * 1000 + tonumber(ts.tv_nsec) / 1e6) / BUCKET_MS)
end

-- The C thread behind a `wrk.thread` userdata (a thread **).
local function cthread(ud)
  return ffi.cast("struct tl_wrk_thread **", ffi.cast("void *", ud))[0]
end

local function socket_errors(t)
  return tonumber(t.errors.connect + t.errors.read + t.errors.write + t.errors.timeout)
end

-- ---- in each of wrk's threads ----

local me, req
-- Per bucket: requests sent in it, and the thread's cumulative counters at its last request.
sent, answered, errors, status = {}, {}, {}, {}

function init(args)
  me = cthread(wrk.thread)
  req = wrk.format()
end

function request()
  local b = bucket()
  sent[b] = (sent[b] or 0) + 1
  answered[b] = tonumber(me.complete)
  errors[b] = socket_errors(me)
  status[b] = tonumber(me.errors.status)
  return req
end

-- ---- in wrk's main Lua state ----

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function done(summary, latency, requests)
  local rows, keys = {}, {}
  local total = { sent = 0, answered = 0, errors = 0, status = 0 }
  local ffi_answered, ffi_errors, ffi_status = 0, 0, 0
  for _, thread in ipairs(threads) do
    local s, a, e, st = thread:get("sent"), thread:get("answered"), thread:get("errors"),
        thread:get("status")
    local order = {}
    for b in pairs(s) do table.insert(order, b) end
    table.sort(order)
    -- Cumulative counters turned into per-bucket counts; what the thread counted after its
    -- last request (the responses that end the run) goes to its last bucket.
    local c = cthread(thread)
    local prev = { a = 0, e = 0, st = 0 }
    for i, b in ipairs(order) do
      local ca, ce, cst = a[b], e[b], st[b]
      if i == #order then
        ca, ce, cst = tonumber(c.complete), socket_errors(c), tonumber(c.errors.status)
      end
      local r = rows[b]
      if not r then
        r = { 0, 0, 0, 0 }
        rows[b] = r
        table.insert(keys, b)
      end
      r[1] = r[1] + s[b]
      r[2] = r[2] + ca - prev.a
      r[3] = r[3] + ce - prev.e
      r[4] = r[4] + cst - prev.st
      prev.a, prev.e, prev.st = ca, ce, cst
      total.sent = total.sent + s[b]
    end
    ffi_answered = ffi_answered + tonumber(c.complete)
    ffi_errors = ffi_errors + socket_errors(c)
    ffi_status = ffi_status + tonumber(c.errors.status)
  end
  table.sort(keys)
  for _, b in ipairs(keys) do
    local r = rows[b]
    io.write(string.format("BUCKET %d %d %d %d %d\n", b * BUCKET_MS, r[1], r[2], r[3], r[4]))
  end
  local e = summary.errors
  local ok = ffi_answered == summary.requests
      and ffi_errors == e.connect + e.read + e.write + e.timeout
      and ffi_status == e.status
  io.write(string.format("TIMELINE sent=%d answered=%d errors=%d status=%d check=%s\n",
    total.sent, ffi_answered, ffi_errors, ffi_status, ok and "ok" or "mismatch"))
  io.write(string.format(
    "RESULT requests=%d duration_us=%d connect=%d read=%d write=%d timeout=%d status=%d p50_us=%d p99_us=%d max_us=%d\n",
    summary.requests, summary.duration, e.connect, e.read, e.write, e.timeout, e.status,
    latency:percentile(50), latency:percentile(99), latency.max))
end
