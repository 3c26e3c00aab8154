#!/usr/bin/env bash
# A flood into an 11-node full mesh: N 64-byte lines (default 300,000)
# typed as fast as possible into the first of 11 real nodes
# (`--max-peers 11`), then each receiver's `Received` lines counted and its
# skipped gaps (stderr) listed. Every receiver should get all N, in order.
#
#   scripts/overload-fanout.sh [BIN [N]]    (default target/release/rumor)
#
# Prints one line per receiver; exits 1 if any got fewer than N.
set -euo pipefail
BIN=${1:-target/release/rumor}
N=${2:-300000}
D=$(mktemp -d)
trap 'exec 3>&- 2>/dev/null || true; kill $(jobs -p) 2>/dev/null || true; rm -rf "$D"' EXIT
python3 -c "
for i in range($N): print(('m%06d-' % i + 'x' * 64)[:64])" > "$D/lines"
mkfifo "$D/in0"
"$BIN" --port 0 --period off --max-peers 11 < "$D/in0" > "$D/n0.out" 2> "$D/n0.err" &
exec 3> "$D/in0"
A=
for _ in $(seq 1 100); do
  A=$(grep -o '127.0.0.1:[0-9]*' "$D/n0.out" | head -1 || true)
  [ -n "$A" ] && break
  sleep 0.1
done
[ -n "$A" ] || { echo "the first node printed no address" >&2; exit 2; }
for i in $(seq 1 10); do
  "$BIN" --port 0 --period off --max-peers 11 --connect "$A" > "$D/n$i.out" 2> "$D/n$i.err" &
done
for _ in $(seq 1 100); do
  c=$(grep -l "Connected to the peers" "$D"/n*.out 2>/dev/null | wc -l)
  [ "$c" -ge 10 ] && break
  sleep 0.1
done
sleep 3 # the joins' last peer lists settle
start=$(date +%s.%N)
cat "$D/lines" >&3
# Wait until every receiver has N lines, or none moves for 10 s.
last=; same=0
while :; do
  sig=; full=0
  for i in $(seq 1 10); do
    c=$(grep -c "Received message" "$D/n$i.out" || true)
    sig="$sig $c"
    [ "$c" -ge "$N" ] && full=$((full + 1))
  done
  [ "$full" -ge 10 ] && break
  if [ "$sig" = "$last" ]; then same=$((same + 1)); else same=0; fi
  [ "$same" -ge 10 ] && break
  last=$sig
  sleep 1
done
end=$(date +%s.%N)
bad=0
for i in $(seq 1 10); do
  c=$(grep -c "Received message" "$D/n$i.out" || true)
  s=$(grep -c "skipped" "$D/n$i.err" || true)
  echo "receiver $i: $c of $N lines, $s gaps skipped"
  [ "$c" -ge "$N" ] || bad=1
done
echo "from the first line typed to the last check: $(python3 -c "print(round($end - $start, 1))") s"
exit $bad
