-- A scriptable DNS upstream for roamd's lab tests and tools/sandbox, run by dnsdist 1.7.
--
-- The generated dnsdist config sets a global table `lab` and then dofile()s this file:
--   lab.listen   "ADDR:PORT"          where to listen (UDP and TCP)
--   lab.log      path                 one line per query received (see describe())
--   lab.serve    {"name.", ...}       names under these are served; everything else is REFUSED ("." = all)
--   lab.refuse   {"name.", ...}       names under these are REFUSED although served
--   lab.a        {plain=, tagged=, plain_do=, tagged_do=}: the A answer tells what the query carried
--                (tagged = roamd's identity option 0x6942 present, do = DNSSEC OK bit set)
--   lab.drop     true                 never answer anything (a wedged server)
--   lab.backend  "ADDR:PORT"          forward untagged served queries there instead of answering A itself
--   lab.nxdomain {"name.", ...}       names under these get NXDOMAIN (served names the cloud does not know)
-- Queries are accepted from any address (the lab's TEST-NET clients too: dnsdist's default ACL has private ranges
-- only).
-- A TXT query for echo.<served name> is answered with the line that is logged for it, so a test can read
-- exactly what arrived: transport, EDNS buffer size, DO bit, option codes and the identity payload.

setLocal(lab.listen)
setACL({"0.0.0.0/0", "::/0"})
setSecurityPollSuffix("")

local IDENTITY = 26946
local TYPES = {[1] = "A", [2] = "NS", [5] = "CNAME", [6] = "SOA", [12] = "PTR", [15] = "MX", [16] = "TXT", [28] = "AAAA", [33] = "SRV", [65] = "HTTPS"}
local logfile = assert(io.open(lab.log, "a"))

local function u16(s, i) return s:byte(i) * 256 + s:byte(i + 1) end

local function skip_name(s, i)
  while true do
    local len = s:byte(i)
    if not len then return nil end
    if len == 0 then return i + 1 end
    if len >= 192 then return i + 2 end
    i = i + len + 1
  end
end

-- Returns the OPT record's (udp payload size, flags) or nil when the query has none.
local function find_opt(s)
  if #s < 12 then return nil end
  local i = 13
  for _ = 1, u16(s, 5) do
    i = skip_name(s, i)
    if not i then return nil end
    i = i + 4
  end
  for _ = 1, u16(s, 7) + u16(s, 9) + u16(s, 11) do
    i = skip_name(s, i)
    if not i or i + 9 > #s then return nil end
    if u16(s, i) == 41 then return u16(s, i + 2), u16(s, i + 6) end
    i = i + 10 + u16(s, i + 8)
  end
end

local function hex(s)
  return (s:gsub(".", function(c) return string.format("%02x", c:byte()) end))
end

local function describe(dq)
  local size, flags = find_opt(dq:getContent())
  local codes, identity = {}, "-"
  for code, view in pairs(dq:getEDNSOptions()) do
    table.insert(codes, code)
    if code == IDENTITY then identity = hex(view:getValues()[1] or "") end
  end
  table.sort(codes)
  local rd = dq.dh:getRD() and 1 or 0
  return string.format("%s %s %s rd=%d edns=%s do=%d opts=%s identity=%s",
    dq.tcp and "tcp" or "udp", dq.qname:toString(), TYPES[dq.qtype] or tostring(dq.qtype), rd,
    size and tostring(size) or "none", (flags and flags >= 0x8000) and 1 or 0,
    #codes > 0 and table.concat(codes, ",") or "-", identity)
end

local function under(qname, suffixes)
  for _, s in ipairs(suffixes or {}) do
    if s == "." or qname:isPartOf(newDNSName(s)) then return true end
  end
  return false
end

if lab.backend then newServer({address = lab.backend, pool = "backend"}) end

function lab_query(dq)
  local line = describe(dq)
  logfile:write(line, "\n")
  logfile:flush()
  if lab.drop then return DNSAction.Drop end
  if not under(dq.qname, lab.serve) or under(dq.qname, lab.refuse) then return DNSAction.Refused end
  if under(dq.qname, lab.nxdomain) then return DNSAction.Nxdomain end
  if dq.qtype == DNSQType.TXT and dq.qname:toString():lower():find("^echo%.") then
    dq:spoof({string.char(#line) .. line})
    return DNSAction.HeaderModify
  end
  local tagged = dq:getEDNSOptions()[IDENTITY] ~= nil
  if lab.backend and not tagged then return DNSAction.Pool, "backend" end
  if dq.qtype ~= DNSQType.A then
    dq.dh:setQR(true) -- NODATA: the query itself, turned into a response
    return DNSAction.HeaderModify
  end
  local key = (tagged and "tagged" or "plain") .. (dq:getDO() and "_do" or "")
  return DNSAction.Spoof, lab.a[key]
end

addAction(AllRule(), LuaAction(lab_query))
