-- PUT /v1/kv/key-<n> with a 100-byte value, n uniform over 10,000 keys.
local value = string.rep("v", 100)
request = function()
  return wrk.format("PUT", "/v1/kv/key-" .. math.random(0, 9999), nil, value)
end
