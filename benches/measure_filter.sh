#!/usr/bin/env bash
# The filter's pipe figures in one window (BENCHMARKS.md, "Whole product"): each command N
# times (default 5), medians of wall time and CPU (user + sys).
#   S=STORE [B=binary] [D=gen_data.py output dir] benches/measure_filter.sh [N]
# STORE: `sendfilter import stops`, `import consents` and `compact` of D's stops.csv/consents.csv.
set -u
B=${B:-target/release/sendfilter}
S=${S:?set S to a store built from gen_data.py output}
D=${D:-/tmp/perfdata}
N=${1:-5}
NOW="--now 2026-11-23T12:00:00Z"
F="$B filter --store $S --brand ACME --purpose offers $NOW"
OUT=$(mktemp)
T=$(mktemp)
run() { # name, command
  local name="$1"; shift
  for _ in $(seq "$N"); do
    /usr/bin/time -f "%e %U %S" -o "$T" bash -c "$*" >/dev/null 2>&1
    awk -v n="$name" '{printf "%s %.3f %.3f\n", n, $1, $2+$3}' "$T" >> "$OUT"
  done
}
run catcat "cat $D/recipients.txt | cat > /dev/null"
run normalize "cat $D/recipients.txt | $B normalize > /dev/null"
run lines "cat $D/recipients.txt | $F > /dev/null"
run lines_nolive "cat $D/recipients.txt | $F --no-live > /dev/null"
run lines_receipts "cat $D/recipients.txt | $F --receipts $T.rc > /dev/null"
run messy "cat $D/recipients_messy.txt | $F --region NO,SE > /dev/null"
run catcat_csv "cat $D/recipients_msg.csv | cat > /dev/null"
run csv "cat $D/recipients_msg.csv | $F --format csv --shortcode 2401 > /dev/null"
run csv_receipts "cat $D/recipients_msg.csv | $F --format csv --shortcode 2401 --receipts $T.rc > /dev/null"
python3 - "$OUT" <<'PY'
import collections, statistics as st, sys
d = collections.defaultdict(list)
for l in open(sys.argv[1]):
    n, w, c = l.split()
    d[n].append((float(w), float(c)))
for n, v in d.items():
    w = st.median(x[0] for x in v)
    c = st.median(x[1] for x in v)
    print(f"{n:16s} wall {w:6.2f} s ({10 / w:5.1f} M/s for 10 M)  cpu {c:6.2f} s  runs {len(v)}")
PY
rm -f "$OUT" "$T" "$T.rc"
