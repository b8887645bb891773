-- GET one of many paths, chosen at random per request, so no single row is hot.
-- wrk -s paths.lua URL -- PATHS_FILE [AUTHORIZATION]
--   PATHS_FILE: one path (with its query string) per line.
local requests = {}
local count = 0

function init(args)
  local headers = {}
  if args[2] ~= nil and args[2] ~= "" and args[2] ~= "-" then
    headers["Authorization"] = args[2]
  end
  local file = assert(io.open(args[1], "r"))
  for line in file:lines() do
    if line ~= "" then
      count = count + 1
      requests[count] = wrk.format("GET", line, headers)
    end
  end
  file:close()
  assert(count > 0, "no paths in " .. args[1])
  math.randomseed(os.time())
end

function request()
  return requests[math.random(count)]
end
