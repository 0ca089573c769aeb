-- etcd's v3 JSON gateway. OP=put|get|mix|txn (mix: 90% range / 10% put, or PUT_SHARE of puts; txn: /v3/kv/txn of one compare on
-- the key's version, always true, and a put), SERIALIZABLE=1 for serializable ranges
-- (default linearizable). Keys key-0 … key-(KEYS-1) (10,000 unless KEYS is set) chosen uniformly, 100-byte
-- values; keys and values travel base64-encoded as the gateway requires. done() prints a WRK_JSON line.
local op = os.getenv("OP") or "get"
local serializable = os.getenv("SERIALIZABLE") == "1"
local keys = tonumber(os.getenv("KEYS") or "10000")
local putShare = tonumber(os.getenv("PUT_SHARE") or "0.1")

local alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
local function b64(s)
  local out = {}
  for i = 1, #s, 3 do
    local a, b, c = s:byte(i, i + 2)
    local n = a * 65536 + (b or 0) * 256 + (c or 0)
    local d1 = math.floor(n / 262144) % 64
    local d2 = math.floor(n / 4096) % 64
    local d3 = math.floor(n / 64) % 64
    local d4 = n % 64
    out[#out + 1] = alphabet:sub(d1 + 1, d1 + 1) .. alphabet:sub(d2 + 1, d2 + 1)
      .. (b and alphabet:sub(d3 + 1, d3 + 1) or "=") .. (c and alphabet:sub(d4 + 1, d4 + 1) or "=")
  end
  return table.concat(out)
end

local value = b64(string.rep("v", 100))
local puts, ranges, txns = {}, {}, {}
for i = 0, keys - 1 do
  local k = b64("key-" .. i)
  puts[i] = '{"key":"' .. k .. '","value":"' .. value .. '"}'
  txns[i] = '{"compare":[{"key":"' .. k .. '","target":"VERSION","result":"LESS","version":"1000000000"}],"success":[{"request_put":' .. puts[i] .. '}]}'
  ranges[i] = serializable and ('{"key":"' .. k .. '","serializable":true}') or ('{"key":"' .. k .. '"}')
end
local headers = { ["Content-Type"] = "application/json" }

request = function()
  local i = math.random(0, keys - 1)
  if op == "txn" then
    return wrk.format("POST", "/v3/kv/txn", headers, txns[i])
  end
  if op == "put" or (op == "mix" and math.random() < putShare) then
    return wrk.format("POST", "/v3/kv/put", headers, puts[i])
  end
  return wrk.format("POST", "/v3/kv/range", headers, ranges[i])
end

-- done() comes from report.lua, next to this script.
dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "report.lua")
