#!/usr/bin/env bash
# Instructions (valgrind callgrind, Ir) a receiving and a sending node
# execute for N stdin lines of SIZE bytes sent from one node to one peer,
# for each binary given: a load-independent before/after figure (the same
# binary and input give the same count to within 0.1 %, whatever else the
# machine is doing).
#
#   scripts/callgrind-ab.sh OLD_BIN NEW_BIN [SIZE N]   (default 64 20000)
#
# Needs valgrind. Prints one line per binary and role, then the ratios.
set -euo pipefail
SIZE=${3:-64}
N=${4:-20000}
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
python3 - "$SIZE" "$N" > "$work/lines" <<'PY'
import sys
size, n = int(sys.argv[1]), int(sys.argv[2])
for i in range(n):
    print(("m%06d-" % i + "x" * size)[:size])
PY
wait_for() { # file pattern count
  for _ in $(seq 1 12000); do
    c=$(grep -c "$2" "$1" 2>/dev/null || true)
    [ "${c:-0}" -ge "$3" ] && return 0
    sleep 0.05
  done
  echo "timed out waiting for $3 x '$2' in $1" >&2
  return 1
}
ir() { grep -E '^(summary|totals):' "$1" | head -1 | awk '{print $2}'; }
declare -A got
for bin in "$1" "$2"; do
  for role in recv send; do
    cg="$work/cg.$role"
    vg_r=(); vg_s=()
    if [ "$role" = recv ]; then vg_r=(valgrind -q --tool=callgrind --callgrind-out-file="$cg"); fi
    if [ "$role" = send ]; then vg_s=(valgrind -q --tool=callgrind --callgrind-out-file="$cg"); fi
    "${vg_r[@]}" "$bin" --port 0 --period off > "$work/r.out" 2>/dev/null &
    r=$!
    wait_for "$work/r.out" "My address" 1
    addr=$(head -1 "$work/r.out" | sed 's/.*"\(.*\)"/\1/')
    "${vg_s[@]}" "$bin" --port 0 --period off --connect "$addr" < "$work/lines" > /dev/null 2>&1 &
    s=$!
    wait_for "$work/r.out" "Received message" "$N"
    kill -TERM "$s" "$r"
    wait "$s" "$r" 2>/dev/null || true
    got[$bin.$role]=$(ir "$cg")
    printf '%-40s %-4s %12s Ir\n' "$bin" "$role" "${got[$bin.$role]}"
  done
done
for role in recv send; do
  awk -v a="${got[$1.$role]}" -v b="${got[$2.$role]}" -v r="$role" \
    'BEGIN { printf "%s: new/old = %.3f\n", r, b / a }'
done
