-- POST a 1 KiB payload (a capture) to a random run in a range reserved for the benchmark.
-- wrk -s capture.lua URL -- AUTHORIZATION BODY_BYTES RUN_BASE RUNS
local requests = {}
local count = 0

function init(args)
  local size = tonumber(args[2])
  local base = tonumber(args[3])
  local runs = tonumber(args[4])
  local headers = { ["Authorization"] = args[1], ["Content-Type"] = "application/json" }
  local head = '{"bench":true,"pad":"'
  local body = head .. string.rep("x", size - #head - 2) .. '"}'
  assert(#body == size)
  for run = 1, runs do
    count = count + 1
    local path = "/api/v1/payload-metadata?flow_run_id=" .. (base + run) .. "&flow_step_id=" .. (run % 10 + 1)
    requests[count] = wrk.format("POST", path, headers, body)
  end
  math.randomseed(os.time())
end

function request()
  return requests[math.random(count)]
end
