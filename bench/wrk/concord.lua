-- Concord's HTTP v1. OP=put|get|mix|txn (mix: 90% get / 10% put, or PUT_SHARE of puts; txn: POST /v1/txn of one compare on the
-- key's version, always true, and a put), CONSISTENCY=serializable for serializable gets (default linearizable). Keys key-0 … key-(KEYS-1) (10,000 unless KEYS is set) chosen uniformly,
-- 100-byte raw values. done() prints a WRK_JSON line.
local op = os.getenv("OP") or "get"
local query = os.getenv("CONSISTENCY") and ("?consistency=" .. os.getenv("CONSISTENCY")) or ""
local keys = tonumber(os.getenv("KEYS") or "10000")
local value = string.rep("v", 100)
local putShare = tonumber(os.getenv("PUT_SHARE") or "0.1")

local txnHeaders = { ["Content-Type"] = "application/json" }
local function txn(i)
  local k = "key-" .. i
  return '{"compare":[{"key":"' .. k .. '","target":"version","result":"less","version":1000000000}],"success":[{"op":"put","key":"' .. k .. '","value":"' .. value .. '"}]}'
end

request = function()
  local i = math.random(0, keys - 1)
  if op == "txn" then
    return wrk.format("POST", "/v1/txn", txnHeaders, txn(i))
  end
  if op == "put" or (op == "mix" and math.random() < putShare) then
    return wrk.format("PUT", "/v1/kv/key-" .. i, nil, value)
  end
  return wrk.format("GET", "/v1/kv/key-" .. i .. query)
end

-- done() comes from report.lua, next to this script.
dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "report.lua")
