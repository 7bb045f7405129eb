#!/usr/bin/env bash
# Issue 18's multi-tenant table in one run: generates the data with gen_tenants.py, imports
# stops and consents (wall time, rows/s), compacts (wall time, peak RSS), reports the
# snapshot's size and bytes per event, `filter` start-up and peak RSS for the smallest and
# the largest brand (warm page cache, then cold), and filter throughput on the campaign.
# Prints a markdown table on stdout (progress on stderr).
#
#   benches/tenants.sh [BRANDS CONSENTS STOPS CAMPAIGN]      # default 1000 10000000 1000000 5000000
#   SMALL=1 benches/tenants.sh                                # 50 200000 20000 100000: a quick check
#
# Environment:
#   B=binary        default target/release/sendfilter (build with `cargo build --release`)
#   GEN=script      default ../shared/bench/gen_tenants.py (next to the checkout), else
#                   /work/shared/bench/gen_tenants.py
#   WORK=dir        where data and store go (default: a new directory under /tmp); deleted
#                   at the end unless KEEP=1. The full size needs ~15 GB of disk today.
#   RUNS=n          warm start-up runs per brand, median reported (default 3)
#   COLD=drop|fadvise|skip
#                   how the cold start-up is measured: `drop` empties the whole page cache
#                   (`sync; echo 3 > /proc/sys/vm/drop_caches`, needs root or sudo without
#                   a password); `fadvise` evicts only the store's files
#                   (posix_fadvise DONTNEED, no privileges needed); `skip`. Default: drop
#                   when allowed, else skip with a note.
#
# Start-up is a `filter` run on empty input: opening the store, verifying what the run
# depends on, and resolving the scope, with no record decided. "Warm" runs follow a read
# of the store's files (`cat`, not timed); a store larger than the free memory cannot be
# held warm, and then the warm figures include reading it back.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
if [ -n "${SMALL:-}" ]; then
  defaults=(50 200000 20000 100000)
else
  defaults=(1000 10000000 1000000 5000000)
fi
BRANDS=${1:-${defaults[0]}}
CONSENTS=${2:-${defaults[1]}}
STOPS=${3:-${defaults[2]}}
CAMPAIGN=${4:-${defaults[3]}}
B=${B:-$here/target/release/sendfilter}
GEN=${GEN:-}
if [ -z "$GEN" ]; then
  for g in "$here/../shared/bench/gen_tenants.py" /work/shared/bench/gen_tenants.py; do
    [ -f "$g" ] && GEN=$g && break
  done
fi
[ -n "$GEN" ] && [ -f "$GEN" ] || { echo "tenants.sh: gen_tenants.py not found; set GEN" >&2; exit 2; }
[ -x "$B" ] || { echo "tenants.sh: no binary at $B; cargo build --release, or set B" >&2; exit 2; }
RUNS=${RUNS:-3}
WORK=${WORK:-$(mktemp -d /tmp/tenants.XXXXXX)}
mkdir -p "$WORK"
D=$WORK/data
S=$WORK/store
T=$WORK/time.txt
cleanup() { [ -n "${KEEP:-}" ] || rm -rf "$WORK"; }
trap cleanup EXIT

can_drop() { [ "$(id -u)" = 0 ] && [ -w /proc/sys/vm/drop_caches ] || sudo -n true 2>/dev/null; }
COLD=${COLD:-}
if [ -z "$COLD" ]; then
  if can_drop; then COLD=drop; else COLD=skip; fi
fi
drop_cache() {
  case $COLD in
    drop)
      sync
      if [ "$(id -u)" = 0 ]; then echo 3 >/proc/sys/vm/drop_caches; else sudo -n sh -c 'echo 3 > /proc/sys/vm/drop_caches'; fi
      ;;
    fadvise)
      find "$S" -type f -print0 | xargs -0 python3 -c '
import os, sys
for p in sys.argv[1:]:
    fd = os.open(p, os.O_RDONLY); os.fsync(fd); os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED); os.close(fd)'
      ;;
  esac
}

# Reads the store's files once (not timed): on a VM whose page cache is reclaimed within
# seconds, "warm" would otherwise time reading a large snapshot back from disk.
warm() { cat "$S"/* >/dev/null 2>&1 || true; }
ns() { date +%s%N; }
# timed LABEL CMD...: runs CMD under /usr/bin/time -v; sets WALL (s, ms resolution) and
# RSS (peak, MB); CMD's stderr goes to $WORK/LABEL.err.
timed() {
  local label=$1
  shift
  local t0 t1
  t0=$(ns)
  /usr/bin/time -v -o "$T" "$@" 2>"$WORK/$label.err" || {
    local rc=$?
    # import exits 1 when it reported bad rows: a measurement, not a failure.
    if [ "$rc" != 1 ] || [ "${label#import}" = "$label" ]; then
      echo "tenants.sh: $label failed (exit $rc):" >&2
      cat "$WORK/$label.err" >&2
      exit 2
    fi
  }
  t1=$(ns)
  WALL=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", (b - a) / 1e9 }')
  RSS=$(awk '/Maximum resident set size/ { printf "%.0f", $NF / 1024 }' "$T")
}
median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
human() { awk -v b="$1" 'BEGIN { if (b >= 1e9) printf "%.2f GB", b / 1e9; else printf "%.1f MB", b / 1e6 }'; }
rate() { awk -v n="$1" -v s="$2" 'BEGIN { printf "%.0f k/s", (s > 0 ? n / s / 1000 : 0) }'; }
ms() { awk -v s="$1" 'BEGIN { printf "%.0f ms", s * 1000 }'; }
rows=()
row() { rows+=("| $1 | $2 |"); }
say() { echo "tenants.sh: $*" >&2; }

say "generating $BRANDS brands, $CONSENTS consents, $STOPS stops, campaign $CAMPAIGN in $WORK"
python3 "$GEN" "$D" "$BRANDS" "$CONSENTS" "$STOPS" "$CAMPAIGN" >&2
imported() { sed -n 's/.*imported \([0-9]*\) of.*/\1/p' "$WORK/$1.err" | tail -1; }

say "import stops"
timed import-stops "$B" import stops --store "$S" "$D/stops.csv"
n_stops=$(imported import-stops)
row "import stops ($n_stops rows)" "$WALL s, $(rate "$n_stops" "$WALL"), peak RSS $RSS MB"

say "import consents"
timed import-consents "$B" import consents --store "$S" "$D/consents.csv"
n_consents=$(imported import-consents)
row "import consents ($n_consents rows)" "$WALL s, $(rate "$n_consents" "$WALL"), peak RSS $RSS MB"

say "compact"
timed compact "$B" compact --store "$S"
row "compact" "$WALL s, peak RSS $RSS MB"

events=$((n_stops + n_consents))
snap=$(stat -c %s "$S/snapshot")
store_bytes=$(du -sb "$S" | cut -f1)
row "snapshot ($events events)" "$(human "$snap") ($(awk -v a="$snap" -v e="$events" 'BEGIN { printf "%.0f", a / e }') bytes per event; store directory $(human "$store_bytes"))"

smallest=$(printf 'BRAND%04d' $((BRANDS - 1)))
largest=BRAND0000
startup() { # brand: one `filter` run on empty input
  timed "filter-$1" "$B" filter --store "$S" --brand "$1" --purpose offers </dev/null
}
for brand in "$smallest" "$largest"; do
  label="smallest"
  [ "$brand" = "$largest" ] && label="largest"
  say "filter start-up, $label brand $brand"
  walls=() rss=()
  for _ in $(seq "$RUNS"); do
    warm
    startup "$brand"
    walls+=("$WALL")
    rss+=("$RSS")
  done
  w=$(printf '%s\n' "${walls[@]}" | median)
  r=$(printf '%s\n' "${rss[@]}" | median)
  row "filter start-up, $label brand ($brand), warm page cache" "$(ms "$w") (median of $RUNS), peak RSS $r MB"
  if [ "$COLD" = skip ]; then
    row "filter start-up, $label brand, cold" "not measured: needs root or sudo to drop the page cache (or COLD=fadvise)"
  else
    drop_cache
    startup "$brand"
    how="page cache dropped"
    [ "$COLD" = fadvise ] && how="store files evicted (fadvise)"
    row "filter start-up, $label brand, $how" "$(ms "$WALL"), peak RSS $RSS MB"
  fi
done

say "filter the campaign for $largest"
n_campaign=$(wc -l <"$D/campaign.txt")
warm
cat "$D/campaign.txt" >/dev/null
timed filter-campaign sh -c "'$B' filter --store '$S' --brand $largest --purpose offers <'$D/campaign.txt' >'$WORK/allowed.txt'"
allowed=$(wc -l <"$WORK/allowed.txt")
row "filter $n_campaign recipients for $largest ($allowed allowed)" "$WALL s, $(rate "$n_campaign" "$WALL") recipients, peak RSS $RSS MB"

echo "gen_tenants.py $BRANDS $CONSENTS $STOPS $CAMPAIGN; $("$B" --version 2>/dev/null || echo "$B"); $(nproc) cores; $(date -u +%FT%TZ)"
echo
echo "| measured | value |"
echo "|---|---|"
printf '%s\n' "${rows[@]}"
