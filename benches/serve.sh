#!/usr/bin/env bash
# Load figures of `sendfilter serve` (BENCHMARKS.md, "Service"), with wrk (Debian package
# `wrk`) on loopback, bounded runs (D seconds each, default 10):
#   [B=target/release/sendfilter] [D=10] [C=32] benches/serve.sh
# 1. POST /v1/check, one number per request, keep-alive (C connections, 2 wrk threads).
# 2. POST /v1/check NDJSON batches of 10,000 numbers (numbers/s = requests/s × 10,000).
# 3. POST /v1/inbound STOP messages, each a new message id (durable, group-committed).
# 4. POST /v1/inbound/twilio STOP forms, each signed (X-Twilio-Signature) with a new
#    MessageSid: N pre-signed requests (default 120,000; python3 hmac) read by the Lua script.
# A temporary store (10,000 consents, 1,000 stops, brand ACME on 2401) is built first and
# removed after. Everything runs on this machine: the client shares its 2 cores.
set -eu
B=${B:-target/release/sendfilter}
D=${D:-10}
C=${C:-32}
command -v wrk >/dev/null || { echo "wrk is missing: sudo apt-get install -y wrk" >&2; exit 2; }
T=$(mktemp -d)
trap 'kill $PID 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$T"' EXIT
S=$T/s
{
  echo number,brand,purpose,channel,granted_at,method,text_ref,source,expires_at,confirmed_at
  for i in $(seq 0 9999); do printf '+4791%06d,ACME,offers,sms,2025-01-01T00:00:00Z,web,t1,bench,,2025-01-01T00:10:00Z\n' "$i"; done
} > "$T/consents.csv"
{ echo number,brand,stopped_at; for i in $(seq 0 999); do printf '+4791%06d,ACME,2025-06-01T00:00:00Z\n' "$((i * 10))"; done; } > "$T/stops.csv"
"$B" import consents --store "$S" "$T/consents.csv" >/dev/null
"$B" import stops --store "$S" "$T/stops.csv" >/dev/null
"$B" compact --store "$S" >/dev/null
"$B" brand add --store "$S" ACME --shortcode 2401 >/dev/null
TOKEN=bench-twilio-token
printf 'public_url = "https://sms.example.com"\n[gateways.twilio]\nauth_token = "%s"\n' "$TOKEN" > "$T/serve.toml"
"$B" serve --store "$S" --listen 127.0.0.1:0 --config "$T/serve.toml" 2> "$T/serve.err" &
PID=$!
for _ in $(seq 100); do grep -q '^listening on' "$T/serve.err" 2>/dev/null && break; sleep 0.05; done
ADDR=$(sed -n 's/^listening on //p' "$T/serve.err")
URL=http://$ADDR

cat > "$T/one.lua" <<'LUA'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local n = 0
request = function()
  n = n + 1
  return wrk.format(nil, "/v1/check", nil,
    string.format('{"number":"+4791%06d","brand":"ACME","purpose":"offers"}', n % 20000))
end
LUA
python3 - "$T/batch.ndjson" <<'PY'
import sys
with open(sys.argv[1], "w") as f:
    for i in range(10000):
        f.write('{"number":"+4791%06d","brand":"ACME","purpose":"offers"}\n' % (i * 2))
PY
cat > "$T/batch.lua" <<LUA
wrk.method = "POST"
wrk.path = "/v1/check"
wrk.headers["Content-Type"] = "application/x-ndjson"
local f = io.open("$T/batch.ndjson", "r")
wrk.body = f:read("*a")
f:close()
LUA
cat > "$T/stop.lua" <<'LUA'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local n = 0
local id = tostring(os.time()) .. "-" .. tostring(math.random(1000000))
request = function()
  n = n + 1
  return wrk.format(nil, "/v1/inbound", nil,
    string.format('{"from":"+4792%06d","to":"2401","text":"STOPP","id":"%s-%d"}', n % 1000000, id, n))
end
LUA
python3 - "$T/twilio.tsv" "$TOKEN" "${N:-120000}" <<'PY'
import base64, hashlib, hmac, sys, time, urllib.parse
out, token, n = sys.argv[1], sys.argv[2].encode(), int(sys.argv[3])
url = "https://sms.example.com/v1/inbound/twilio"
run = str(int(time.time()))
with open(out, "w") as f:
    for i in range(n):
        fields = {"From": "+4793%06d" % (i % 1000000), "To": "2401", "Body": "STOPP",
                  "MessageSid": "SM%s%08d" % (run, i), "AccountSid": "ACbench"}
        payload = url + "".join(k + fields[k] for k in sorted(fields))
        sig = base64.b64encode(hmac.new(token, payload.encode(), hashlib.sha1).digest()).decode()
        f.write("%s\t%s\n" % (sig, urllib.parse.urlencode(fields)))
PY
cat > "$T/twilio_run.lua" <<LUA
reqs = {}
for l in io.lines("$T/twilio.tsv") do
  local sig, body = l:match("^([^\t]*)\t(.*)$")
  reqs[#reqs + 1] = {sig, body}
end
local threads = 0
function setup(thread) thread:set("tid", threads); threads = threads + 1 end
local i = 0
request = function()
  -- Two wrk threads take alternate requests: every request a new message (until the
  -- table runs out; then they repeat, which the service answers as a redelivery).
  local r = reqs[((i * 2 + tid) % #reqs) + 1]
  i = i + 1
  return wrk.format("POST", "/v1/inbound/twilio",
    {["Content-Type"] = "application/x-www-form-urlencoded", ["X-Twilio-Signature"] = r[1]}, r[2])
end
LUA
echo "== check, one number per request (c=$C, ${D}s)"
wrk -t2 -c"$C" -d"${D}s" --latency -s "$T/one.lua" "$URL" | grep -E 'Requests/sec|Latency|  50%|  99%|Non-2xx'
echo "== check, NDJSON batches of 10,000 numbers (c=2, ${D}s)"
wrk -t2 -c2 -d"${D}s" --latency -s "$T/batch.lua" "$URL" | grep -E 'Requests/sec|  50%|  99%|Non-2xx'
echo "== inbound STOP, durable (c=$C, ${D}s)"
wrk -t2 -c"$C" -d"${D}s" --latency -s "$T/stop.lua" "$URL" | grep -E 'Requests/sec|Latency|  50%|  99%|Non-2xx'
echo "== Twilio STOP, signed form, durable (c=$C, ${D}s)"
wrk -t2 -c"$C" -d"${D}s" --latency -s "$T/twilio_run.lua" "$URL" | grep -E 'Requests/sec|Latency|  50%|  99%|Non-2xx|requests in'
