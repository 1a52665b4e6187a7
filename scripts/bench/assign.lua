-- wrk script for GET /v1/assign: every request a different visitor (cookie or site id),
-- User-Agent (phones, tablets, desktops, bots), persona, country-free page URL and referrer.
local uas = {
  "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
  "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
  "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
  "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36",
  "Mozilla/5.0 (iPad; CPU OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
  "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
}
local personas = { "", "", "", "&persona=TechEarlyAdopter", "&persona=RemoteDad", "&persona=StudentHustler", "&persona=BusinessOwner" }
local pages = {
  "https%3A%2F%2Fshop.example%2F",
  "https%3A%2F%2Fshop.example%2Fpricing%3Futm_source%3Dnewsletter",
  "https%3A%2F%2Fshop.example%2Fcheckout%2Fcart",
  "https%3A%2F%2Fshop.example%2Fblog%2Flaunch%3Futm_source%3Dtechcrunch%26promo%3Dstudent",
}
local refs = { "", "&ref=https%3A%2F%2Fnews.ycombinator.com%2F", "&ref=https%3A%2F%2Fcs.stanford.edu%2F", "&ref=https%3A%2F%2Fwww.google.com%2F" }

local counter = 0
function setup(thread)
  counter = counter + 1
  thread:set("tid", counter)
end

function init(args)
  math.randomseed(tid * 7919)
end

request = function()
  local id = string.format("%08x%08x", math.random(0, 0x7fffffff), math.random(0, 0x7fffffff))
  local headers = { ["User-Agent"] = uas[math.random(#uas)] }
  local path = "/v1/assign?url=" .. pages[math.random(#pages)] .. personas[math.random(#personas)]
    .. refs[math.random(#refs)] .. "&local_hour=" .. math.random(0, 23)
  if math.random() < 0.7 then
    headers["Cookie"] = "edgewise_uid=" .. id
  else
    path = path .. "&unit=" .. id
  end
  return wrk.format("GET", path, headers)
end

local bad = 0
response = function(status, headers, body)
  if status ~= 200 then bad = bad + 1 end
end

done = function(summary, latency, requests)
  io.write(string.format("non-200 responses: %d\n", summary.errors.status))
end
