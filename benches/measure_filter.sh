#!/usr/bin/env bash
# The filter's pipe figures in one window (BENCHMARKS.md, "Whole product"): each command N
# times (default 5), medians of wall time and CPU (user + sys).
#   S=STORE [B=binary] [D=gen_data.py output dir] benches/measure_filter.sh [N]
# STORE: `sendfilter import stops`, `import consents` and `compact` of D's stops.csv/consents.csv.
# Since issue 22 a csv run rejects recipients in countries without an opt-out route
# (NO_OPT_OUT_ROUTE): D's lists mix NO, SE, DK, FI and DE numbers, so for csv figures
# comparable with earlier ones give ACME a route in each (once per store):
#   sendfilter brand add   --store S ACME --shortcode 2401
#   sendfilter brand route --store S ACME SE 72456
#   sendfilter brand route --store S ACME FI 12345
#   sendfilter brand route --store S ACME DK +4570202020
#   sendfilter brand route --store S ACME DE +4930901820
#
# With a baseline, every run of a command alternates between the baseline and B (on this
# shared VM the speed moves by 20-30 % between minutes, so only runs interleaved like this
# compare), and the ratio B / baseline is printed per command:
#   BASE=old-binary [BASE_S=its store, default S] S=STORE benches/measure_filter.sh [N]
#
# Before each run the store's snapshot and the input are read once (not timed): on a VM
# whose page cache is reclaimed within seconds (as here: DAMON), a run would otherwise
# time reading them back from disk. COLD=1 skips that.
#
# The snapshot is read back as every run finds it after `compact` (which verifies the new
# file through a huge-page mapping) or after its pages were evicted (a run faults them in
# through its own huge-page mapping): dropped from the page cache, then read through a
# MADV_HUGEPAGE mapping, so the cache holds it in 2 MiB folios and runs map its tables
# with huge pages. `cat` would instead leave it in small folios, mapped with 4 KiB pages,
# and every random probe would then pay a page walk (BENCHMARKS.md, session 14: format 4
# reads two far lines per decision where format 3 read one, so it loses more to that).
# WARM=cat keeps the old way (`cat` of snapshot and input, no drop).
set -u
B=${B:-target/release/sendfilter}
S=${S:?set S to a store built from gen_data.py output}
D=${D:-/tmp/perfdata}
N=${1:-5}
BASE=${BASE:-}
BASE_S=${BASE_S:-$S}
NOW="--now 2026-11-23T12:00:00Z"
OUT=$(mktemp)
T=$(mktemp)
sides="new"
[ -n "$BASE" ] && sides="base new"
drop() { # evicts a file's pages from the page cache (they are clean)
  python3 -c 'import os,sys; fd=os.open(sys.argv[1],os.O_RDONLY); os.posix_fadvise(fd,0,0,os.POSIX_FADV_DONTNEED)' "$1"
}
huge_read() { # drops a file from the page cache and reads it back through a huge-page mapping
  python3 - "$1" <<'PY'
import mmap, os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
m = mmap.mmap(fd, 0, prot=mmap.PROT_READ)
m.madvise(mmap.MADV_HUGEPAGE)
sum(m[i] for i in range(0, len(m), 4096))
PY
}
WARM=${WARM:-huge}
run() { # name, command with @F@ for the filter invocation, @B@ for the binary
  local name="$1" cmd="$2"
  for _ in $(seq "$N"); do
    for side in $sides; do
      local bin=$B store=$S
      [ "$side" = base ] && bin=$BASE store=$BASE_S
      local f="$bin filter --store $store --brand ACME --purpose offers $NOW"
      local c="${cmd//@F@/$f}"
      if [ -z "${COLD:-}" ]; then
        local input
        input=$(grep -o "$D/[^ ]*" <<<"$cmd" | head -1)
        if [ "$WARM" = cat ]; then
          [ "$BASE_S" != "$S" ] && drop "$store/snapshot"
          cat "$store/snapshot" "$input" >/dev/null 2>&1
        else
          huge_read "$store/snapshot"
          cat "$input" >/dev/null 2>&1
        fi
      fi
      /usr/bin/time -f "%e %U %S" -o "$T" bash -c "${c//@B@/$bin}" >/dev/null 2>&1
      awk -v n="$name" -v s="$side" '{printf "%s %s %.3f %.3f\n", n, s, $1, $2+$3}' "$T" >> "$OUT"
    done
  done
}
run catcat "cat $D/recipients.txt | cat > /dev/null"
run normalize "cat $D/recipients.txt | @B@ normalize > /dev/null"
run lines "cat $D/recipients.txt | @F@ > /dev/null"
run lines_nolive "cat $D/recipients.txt | @F@ --no-live > /dev/null"
run lines_receipts "cat $D/recipients.txt | @F@ --receipts $T.rc > /dev/null"
run messy "cat $D/recipients_messy.txt | @F@ --region NO,SE > /dev/null"
run catcat_csv "cat $D/recipients_msg.csv | cat > /dev/null"
run csv "cat $D/recipients_msg.csv | @F@ --format csv --shortcode 2401 > /dev/null"
run csv_receipts "cat $D/recipients_msg.csv | @F@ --format csv --shortcode 2401 --receipts $T.rc > /dev/null"
python3 - "$OUT" <<'PY'
import collections, statistics as st, sys
d = collections.defaultdict(list)
for l in open(sys.argv[1]):
    n, side, w, c = l.split()
    d[(n, side)].append((float(w), float(c)))
med = {k: (st.median(x[0] for x in v), st.median(x[1] for x in v), len(v)) for k, v in d.items()}
for (n, side), (w, c, k) in med.items():
    line = f"{n:16s} {side:4s} wall {w:6.2f} s ({10 / w:5.1f} M/s for 10 M)  cpu {c:6.2f} s  runs {k}"
    base = med.get((n, "base"))
    if side == "new" and base and not n.startswith("catcat"):
        line += f"  ratio wall {w / base[0]:.2f} cpu {c / base[1]:.2f}"
    print(line)
# `cat | cat` does not depend on the binary: pool both sides' runs.
cat = [x[0] for (n, _), v in d.items() if n == "catcat_csv" for x in v]
for side in ("base", "new"):
    if ("csv", side) in med and cat:
        print(f"csv ({side}) / cat|cat of the csv: {med[('csv', side)][0] / st.median(cat):.2f}x")
PY
rm -f "$OUT" "$T" "$T.rc"
