-- wrk script for scripts/bench.sh: POST /api/v1/requests with the release
-- request the Go benchmarks post, each call as the next of the tokens listed
-- one per line in $RDSGATE_BENCH_TOKENS (one requester each). wrk counts any
-- answer but 2xx/3xx as "Non-2xx"; the script fails the run on it.
local tokens = {}
for line in io.lines(os.getenv("RDSGATE_BENCH_TOKENS")) do
  tokens[#tokens + 1] = line
end

local body = '{"region_id":"cn-hangzhou","db_instance_id":"rm-bp1devexample01",'
  .. '"connection_string":"rm-bp1devexample01.mysql.rds.aliyuncs.com","network_type":"0",'
  .. '"justification":"benchmark: retiring the public endpoint","ticket":"OPS-1"}'

local threads = 0
function setup(thread)
  thread:set("id", threads)
  threads = threads + 1
end

-- Each thread starts at its own place in the list, so two threads do not
-- file for the same requester at the same moment.
local next_token
function init(args)
  next_token = (id or 0) * 397
end

function request()
  next_token = next_token + 1
  return wrk.format("POST", "/api/v1/requests", {
    ["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. tokens[(next_token % #tokens) + 1],
  }, body)
end
