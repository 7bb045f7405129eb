#!/usr/bin/env bash
# Compare sendfilter with today's alternatives on the same generated data, in one run.
#
#   benches/compare.sh [--n RECIPIENTS] [--slow-n RECIPIENTS] [--out DIR] [--keep]
#
# Generates (or reuses) the benchmark data with ../shared/bench/gen_data.py, imports the
# stop and consent lists into a fresh sendfilter store, then filters the clean recipient
# list with sendfilter and with: sort|comm, Python sets, SQLite anti-join, awk, grep -Ff.
# Every tool must produce the same allowed set (consented AND NOT stopped); the script
# fails if one differs. Prints recipients/second per tool and the ratio to sendfilter.
# The slow tools (SQLite, awk, grep) run on the first --slow-n recipients (default 1 M)
# so the whole comparison finishes in minutes; their rate is per recipient all the same.
set -euo pipefail

N=10000000
SLOW_N=1000000
OUT=/tmp/perfdata
KEEP=0
while [ $# -gt 0 ]; do
  case "$1" in
    --n) N=$2; shift 2 ;;
    --slow-n) SLOW_N=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --keep) KEEP=1; shift ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    *) echo "compare.sh: unknown argument $1 (try --help)" >&2; exit 2 ;;
  esac
done

here=$(cd "$(dirname "$0")/.." && pwd)
gen="$here/../shared/bench/gen_data.py"
[ -f "$gen" ] || { echo "compare.sh: $gen not found" >&2; exit 2; }
NOW=2026-11-01T00:00:00Z

if [ ! -f "$OUT/manifest.json" ] || ! grep -q "\"recipients\": $N," "$OUT/manifest.json"; then
  echo "generating $N recipients into $OUT ..." >&2
  python3 "$gen" --out "$OUT" --n "$N" >&2
fi
(( SLOW_N > N )) && SLOW_N=$N

echo "building sendfilter (release) ..." >&2
cargo build --release --quiet --manifest-path "$here/Cargo.toml"
sf="$here/target/release/sendfilter"

work=$(mktemp -d)
[ "$KEEP" = 1 ] || trap 'rm -rf "$work"' EXIT
store="$work/store"

secs() { python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.3f}')" "$1" "$2"; }
now_s() { date +%s.%N; }

echo "importing stops and consents into $store ..." >&2
t0=$(now_s)
"$sf" import stops --store "$store" "$OUT/stops.csv" >/dev/null
"$sf" import consents --store "$store" "$OUT/consents.csv" >/dev/null
t1=$(now_s)
"$sf" compact --store "$store" >/dev/null
t2=$(now_s)
echo "import $(secs "$t0" "$t1") s, compact $(secs "$t1" "$t2") s" >&2

head -n "$SLOW_N" "$OUT/recipients.txt" > "$work/recipients_slow.txt"

declare -A RATE
run() { # name count outfile cmd...
  local name=$1 count=$2 out=$3; shift 3
  local a b
  a=$(now_s)
  "$@" > "$out"
  b=$(now_s)
  RATE[$name]=$(python3 -c "import sys; print(f'{int(sys.argv[1]) / (float(sys.argv[3]) - float(sys.argv[2])) / 1e6:.2f}')" "$count" "$a" "$b")
  printf '%-22s %10s recipients  %8.3f s  %8s M/s\n' "$name" "$count" "$(secs "$a" "$b")" "${RATE[$name]}" >&2
}

sf_filter() {
  "$sf" filter --store "$store" --brand ACME --purpose offers --now "$NOW" --shortcode 2401 \
    --format lines < "$1"
}
py_sets() {
  python3 - "$OUT/stop.txt" "$OUT/consent.txt" "$1" <<'PY'
import sys
stop = set(open(sys.argv[1]).read().split())
consent = set(open(sys.argv[2]).read().split())
out = sys.stdout
for line in open(sys.argv[3]):
    n = line.rstrip("\n")
    if n in consent and n not in stop:
        out.write(line)
PY
}
sqlite_join() {
  rm -f "$work/db.sqlite"
  sqlite3 "$work/db.sqlite" <<SQL
.mode csv
CREATE TABLE stop(n TEXT PRIMARY KEY) WITHOUT ROWID;
CREATE TABLE consent(n TEXT PRIMARY KEY) WITHOUT ROWID;
CREATE TABLE r(n TEXT);
.import $OUT/stop.txt stop
.import $OUT/consent.txt consent
.import $1 r
.mode list
SELECT r.n FROM r WHERE r.n IN (SELECT n FROM consent) AND r.n NOT IN (SELECT n FROM stop) ORDER BY r.rowid;
SQL
}
awk_join() {
  awk 'FILENAME==ARGV[1]{s[$0]=1;next} FILENAME==ARGV[2]{c[$0]=1;next} ($0 in c) && !($0 in s)' \
    "$OUT/stop.txt" "$OUT/consent.txt" "$1"
}
grep_ff() { grep -Fxf "$OUT/consent.txt" "$1" | grep -vFxf "$OUT/stop.txt" || true; }
sort_comm() {
  LC_ALL=C sort -u "$OUT/consent.txt" > "$work/c.sorted"
  LC_ALL=C sort -u "$OUT/stop.txt" > "$work/s.sorted"
  LC_ALL=C sort "$1" | LC_ALL=C comm -12 - "$work/c.sorted" | LC_ALL=C comm -23 - "$work/s.sorted"
}

full="$OUT/recipients.txt"
slow="$work/recipients_slow.txt"
run sendfilter "$N" "$work/sf.out" sf_filter "$full"
run "sort + comm" "$N" "$work/comm.out" sort_comm "$full"
run "python sets" "$N" "$work/py.out" py_sets "$full"
run sendfilter_slow_n "$SLOW_N" "$work/sf_slow.out" sf_filter "$slow"
run "sqlite anti-join" "$SLOW_N" "$work/sqlite.out" sqlite_join "$slow"
run awk "$SLOW_N" "$work/awk.out" awk_join "$slow"
run "grep -Ff" "$SLOW_N" "$work/grep.out" grep_ff "$slow"

# Agreement: same allowed set everywhere; same order where the tool keeps campaign order.
fail=0
cmp -s "$work/sf.out" "$work/py.out" || { echo "MISMATCH: sendfilter vs python sets" >&2; fail=1; }
LC_ALL=C sort "$work/sf.out" | cmp -s - "$work/comm.out" || { echo "MISMATCH: sendfilter vs sort|comm" >&2; fail=1; }
for t in sqlite awk grep; do
  cmp -s "$work/sf_slow.out" "$work/$t.out" || { echo "MISMATCH: sendfilter vs $t" >&2; fail=1; }
done
allowed=$(wc -l < "$work/sf.out")
echo "allowed: $allowed of $N (expected $(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['expected_allowed'])" "$OUT/manifest.json"))" >&2

echo
echo "| tool | recipients | M recipients/s | sendfilter is × faster |"
echo "|---|---:|---:|---:|"
base=${RATE[sendfilter]}
for t in sendfilter "sort + comm" "python sets" "sqlite anti-join" awk "grep -Ff"; do
  count=$N; case "$t" in sqlite*|awk|grep*) count=$SLOW_N ;; esac
  ratio=$(python3 -c "import sys; print(f'{float(sys.argv[1]) / float(sys.argv[2]):.1f}')" "$base" "${RATE[$t]}")
  echo "| $t | $count | ${RATE[$t]} | $ratio |"
done
[ "$fail" = 0 ] || { echo "compare.sh: tools disagree on the allowed set" >&2; exit 1; }
