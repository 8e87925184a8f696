-- GET /v1/books/{id} over a random id in [1, MAX_ID]
local max_id = tonumber(os.getenv("MAX_ID") or "100000")
math.randomseed(os.time())
request = function()
  return wrk.format("GET", "/v1/books/" .. math.random(1, max_id))
end
