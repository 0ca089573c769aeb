-- GET /v1/kv/key-<n> (linearizable unless the URL carries ?consistency=...), n uniform over 10,000 keys.
local query = os.getenv("CONSISTENCY") and ("?consistency=" .. os.getenv("CONSISTENCY")) or ""
request = function()
  return wrk.format("GET", "/v1/kv/key-" .. math.random(0, 9999) .. query)
end
