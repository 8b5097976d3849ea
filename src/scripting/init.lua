-- Strata's Lua sandbox, run once per Lua VM (chunk name "=strata").
-- Builds the globals scripts see, as Redis 7.0 does: a fixed set of
-- globals, read-only library tables, an error on reading a nonexistent
-- global, and "Attempt to modify a readonly table" on any write.
--
-- Redis patches its Lua to make tables read-only; stock Lua 5.1 cannot,
-- so every protected table is an empty proxy whose metatable reads
-- through to the real table and refuses writes. next/pairs/ipairs/
-- rawget/rawset/setmetatable are wrapped so proxies behave like the
-- tables they stand for.
local R = ...
local error, type, select, tostring, tonumber = error, type, select, tostring, tonumber
local next, pairs, ipairs, rawget, rawset = next, pairs, ipairs, rawget, rawset
local setmetatable, getmetatable, loadstring, load, setfenv = setmetatable, getmetatable, loadstring, load, setfenv
local pcall = pcall

local backing = R.backing
local RO = "Attempt to modify a readonly table"
local function ro_newindex()
  error(RO, 2)
end

local function view(t, index)
  local p = {}
  local shown = {}
  setmetatable(shown, { __index = { __index = t, __newindex = ro_newindex }, __newindex = ro_newindex, __metatable = false })
  backing[shown] = {}
  setmetatable(p, { __index = index or t, __newindex = ro_newindex, __metatable = shown })
  backing[p] = t
  return p
end

-- Wrapped builtins: proxies iterate and read as their real tables.
local function s_next(t, k)
  local b = backing[t]
  if b then
    return next(b, k)
  end
  return next(t, k)
end
local function s_pairs(t)
  local b = backing[t]
  if b then
    return s_next, t, nil
  end
  local f, s, c = pairs(t)
  return s_next, s, c
end
local function s_ipairs(t)
  local b = backing[t]
  local f, s, c = ipairs(b or t)
  return f, s, c
end
local function s_rawget(t, k)
  local b = backing[t]
  if b then
    return rawget(b, k)
  end
  local v = rawget(t, k)
  return v
end
local G -- the globals proxy, set below
-- Binary (bytecode) chunks are refused as Redis does: they are parsed
-- as text, which fails on the ESC byte.
local function s_loadstring(s, name)
  if type(s) == "string" and s:byte(1) == 27 then
    s, name = " " .. s, name or s
  end
  local f, e = loadstring(s, name)
  if f then
    setfenv(f, G)
  end
  return f, e
end
local function s_load(fn, name)
  if type(fn) ~= "function" then
    local f, e = load(fn, name)
    return f, e
  end
  local first = true
  local function reader()
    local p = fn()
    if first and type(p) == "string" and p ~= "" then
      first = false
      if p:byte(1) == 27 then
        p = " " .. p
      end
    end
    return p
  end
  local f, e = load(reader, name)
  if f then
    setfenv(f, G)
  end
  return f, e
end

-- pcall as Redis 7.0: an error table raised by redis.call is returned
-- as its message.
local function pcall_ret(ok, ...)
  if ok then
    return true, ...
  end
  -- A killed script must not be able to catch the kill.
  if R.killed() then
    R.rekill()
  end
  local e = ...
  if type(e) == "userdata" then
    local m = R.errmsg(e)
    if m then
      return false, m
    end
  end
  if type(e) == "table" then
    local m = e.err
    if type(m) == "string" or type(m) == "number" then
      return false, m
    end
  end
  return false, e
end
local function s_pcall(...)
  return pcall_ret(pcall(...))
end
local xpcall = xpcall
local function xpcall_ret(ok, ...)
  if not ok and R.killed() then
    R.rekill()
  end
  return ok, ...
end
local function s_xpcall(f, h)
  return xpcall_ret(xpcall(f, h))
end

-- Library functions are implemented in Rust and raise plain strings.
local function wrap(f)
  return f
end
local function wrap_lib(src)
  local t = {}
  for k, v in next, src do
    if type(v) == "function" then
      t[k] = wrap(v)
    else
      t[k] = v
    end
  end
  return t
end

-- The redis API.
local redis = {}
local function push_error_buff(buf)
  local code, msg
  if buf:sub(1, 1) == "-" then
    local sp = buf:find(" ", 1, true)
    if not sp then
      code, msg = "ERR", buf:sub(2)
    else
      code, msg = buf:sub(2, sp - 1), buf:sub(sp + 1)
    end
  else
    code, msg = "ERR", buf
  end
  msg = msg:gsub("^[\r\n]+", ""):gsub("[\r\n]+$", "")
  return { err = code .. " " .. msg }
end
redis.error_reply = function(...)
  local e = ...
  if select("#", ...) ~= 1 or type(e) ~= "string" then
    return push_error_buff("wrong number or type of arguments")
  end
  if e:sub(1, 1) ~= "-" then
    e = "-" .. e
  end
  return push_error_buff(e)
end
redis.status_reply = function(...)
  local s = ...
  if select("#", ...) ~= 1 or type(s) ~= "string" then
    return push_error_buff("wrong number or type of arguments")
  end
  return { ok = s }
end
redis.sha1hex = R.sha1hex
redis.log = R.log
redis.set_repl = R.set_repl
redis.replicate_commands = function()
  return true
end
redis.breakpoint = function()
  return false
end
redis.debug = function() end
redis.acl_check_cmd = R.acl_check_cmd
redis.LOG_DEBUG = 0
redis.LOG_VERBOSE = 1
redis.LOG_NOTICE = 2
redis.LOG_WARNING = 3
redis.REDIS_VERSION = R.version
redis.REDIS_VERSION_NUM = R.version_num
redis.REPL_NONE = 0
redis.REPL_AOF = 1
redis.REPL_SLAVE = 2
redis.REPL_REPLICA = 2
redis.REPL_ALL = 3

local function copy(src)
  local t = {}
  for k, v in next, src do
    t[k] = v
  end
  return t
end
local mathlib = copy(math)
mathlib.random = wrap(R.random)
mathlib.randomseed = wrap(R.randomseed)
local strlib = copy(string)
local tablib = copy(table)
local colib = copy(coroutine)

local cjson = wrap_lib(R.cjson)
cjson.null = R.null
local cmsgpack = wrap_lib(R.cmsgpack)
local bit = wrap_lib(R.bit)
local struct = wrap_lib(R.struct)

-- The globals backing table and its proxy.
local g = {}
local base = {
  "assert", "collectgarbage", "error", "gcinfo", "getmetatable", "select",
  "tonumber", "tostring", "type", "unpack", "rawequal", "_VERSION",
}
for _, n in ipairs(base) do
  g[n] = _G[n]
end
g.next = s_next
g.pairs = s_pairs
g.ipairs = s_ipairs
g.rawget = s_rawget
g.rawset = R.rawset
g.setmetatable = R.setmetatable
g.loadstring = s_loadstring
g.load = s_load
g.pcall = s_pcall
g.xpcall = s_xpcall
g.__redis__err__handler = R.handler
g.string = view(strlib)
g.table = view(tablib)
g.math = view(mathlib)
g.coroutine = view(colib)
g.redis = view(redis)
g.cjson = view(cjson)
g.cmsgpack = view(cmsgpack)
g.bit = view(bit)
g.struct = view(struct)

setmetatable(g, {
  __index = function(_, k)
    error("Script attempted to access nonexistent global variable '" .. tostring(k) .. "'", 2)
  end,
})
G = view(g)
rawset(g, "_G", G)

-- Strings: their metatable is read-only too.
local smt = getmetatable("")
smt.__index = strlib
local shown = {}
setmetatable(shown, { __index = { __index = G.string }, __newindex = ro_newindex, __metatable = false })
backing[shown] = {}
smt.__metatable = shown

return G, g, redis
