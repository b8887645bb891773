-- PUT /metadatas/{uuid} with the current version, so no request is stale (a 409 would count as an error).
-- wrk -s update.lua URL -- AUTHORIZATION POOL_FILE
--   POOL_FILE: "uuid version" per line, the versions read just before the run; keep it at least 2x connections.
-- wrk runs every connection in one Lua state and does not say which connection a response belongs to, so a uuid
-- leaves the ready queue when a request is sent and comes back, with the version from the response body, when its
-- response arrives: no two requests in flight ever share a uuid.
local headers = {}
local versions = {}
local ready = {}
local head = 1
local tail = 0
local sent = 0

local function push(uuid)
  tail = tail + 1
  ready[tail] = uuid
end

function init(args)
  headers["Authorization"] = args[1]
  headers["Content-Type"] = "application/json"
  local file = assert(io.open(args[2], "r"))
  for line in file:lines() do
    local uuid, version = line:match("^(%S+)%s+(%d+)")
    if uuid then
      versions[uuid] = tonumber(version)
      push(uuid)
    end
  end
  file:close()
  assert(tail > 0, "no uuids in " .. args[2])
end

function request()
  local uuid
  if head <= tail then
    uuid = ready[head]
    ready[head] = nil
    head = head + 1
  else
    uuid = next(versions) -- the pool is smaller than the connections: a 409 may follow
  end
  sent = sent + 1
  local body = '{"version":' .. versions[uuid] .. ',"data":{"providers":["Github"],"n":' .. sent .. '}}'
  return wrk.format("PUT", "/metadatas/" .. uuid, headers, body)
end

function response(status, hdrs, body)
  local uuid = body:match('"uuid":"([%x%-]+)"')
  local version = body:match('"version":(%d+)')
  if uuid and version and versions[uuid] then
    versions[uuid] = tonumber(version)
    push(uuid)
  end
end
