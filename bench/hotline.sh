#!/usr/bin/env bash
# The hotline's figures for docs/PERFORMANCE.md: `tsuchi lookup` and `status` on a campaign of
# HOTLINE_N recipients all journaled as sent, and the API's latency under CLIENTS concurrent
# clients. Run by bench/run.sh, or alone:
#
#   bench/hotline.sh                         # 8M recipients (a ~650 MB list, a ~3 GB journal)
#   HOTLINE_N=1000000 bench/hotline.sh
#
# Uses $CARGO_TARGET_DIR (default /work/target-bench) and the scratch directory $WORK.
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/work/target-bench}
HOTLINE_N=${HOTLINE_N:-8000000}
CLIENTS=${CLIENTS:-8}
PER_CLIENT=${PER_CLIENT:-250}
WORK=${WORK:-$(mktemp -d /tmp/tsuchi-bench.XXXXXX)}
mkdir -p "$WORK"
(cd "$REPO" && cargo build --release --quiet --bin tsuchi --example fake_journal)
BIN=$CARGO_TARGET_DIR/release/tsuchi
FAKE=$CARGO_TARGET_DIR/release/examples/fake_journal

row() { printf '%-58s %s\n' "$1" "$2"; }
now() { date +%s.%N; }
calc() { python3 -c "print($1)"; }

L=$WORK/list-$HOTLINE_N.csv
[[ -s $L ]] || python3 "$REPO/bench/generate.py" "$HOTLINE_N" "$L"
D=$WORK/hotline
rm -rf "$D"; mkdir -p "$D"
sed -e 's/^require_approval = true/require_approval = false/' \
    -e "s|^templates = \"templates\"|templates = \"$REPO/templates\"|" \
    -e "s|^recipients = \"recipients/sample.csv\"|recipients = \"$L\"|" \
    "$REPO/config.toml" >"$D/config.toml"
tsuchi() { "$BIN" --config "$D/config.toml" --state-dir "$D/state" "$@"; }
"$FAKE" "$D/config.toml" "$D/state" "$HOTLINE_N" >&2

# The first lookup binds the list to the journal and builds the index.
T0=$(now); tsuchi lookup C000001 >/dev/null; T1=$(now)
row "lookup at $HOTLINE_N, first (binds the list, builds the index)" "$(calc "round($T1 - $T0, 1)") s"

# Then: lookups by id and by reference at random rows, each a fresh process.
python3 - "$HOTLINE_N" >"$WORK/hotline-ids.txt" <<'PY'
import random, sys
n = int(sys.argv[1]); r = random.Random(7)
for _ in range(40):
    print(f"C{r.randint(1, n):06d}")
PY
: >"$WORK/hotline-keys.txt"
times=()
while read -r id; do
  T0=$(now); out=$(tsuchi lookup "$id"); T1=$(now)
  times+=("$(calc "round(($T1 - $T0) * 1000, 1)")")
  echo "$id" >>"$WORK/hotline-keys.txt"
  sed -n 's/.*reference \(.*\)$/\1/p' <<<"$out" | head -1 >>"$WORK/hotline-keys.txt"
done <"$WORK/hotline-ids.txt"
while read -r key; do
  case $key in C*) continue ;; esac
  T0=$(now); tsuchi lookup "$key" >/dev/null; T1=$(now)
  times+=("$(calc "round(($T1 - $T0) * 1000, 1)")")
done <"$WORK/hotline-keys.txt"
row "lookup at $HOTLINE_N, by id and by reference (${#times[@]} runs)" \
    "$(python3 -c "import sys,statistics as s; v=sorted(map(float,sys.argv[1:])); print(f'median {s.median(v)} ms, max {v[-1]} ms')" "${times[@]}")"

/usr/bin/time -v "$BIN" --config "$D/config.toml" --state-dir "$D/state" lookup C000777 >/dev/null 2>"$WORK/lookup-time.txt"
row "lookup at $HOTLINE_N, peak RSS" "$(awk -F': ' '/Maximum resident/ {printf "%d MB", $2/1024}' "$WORK/lookup-time.txt")"
# status: the first replays the whole journal and saves its checkpoint; the next ones replay
# only what the journal gained since (here: nothing, then 200,000 more records, as a running
# send appends them).
rm -f "$D/state/"*.journal.checkpoint
T0=$(now); tsuchi status >/dev/null; T1=$(now)
row "status at $HOTLINE_N, first (replays the journal, saves the checkpoint)" "$(calc "round($T1 - $T0, 1)") s"
T0=$(now); tsuchi status >/dev/null; T1=$(now)
row "status at $HOTLINE_N, from the checkpoint" "$(calc "round($T1 - $T0, 2)") s"
python3 - "$D/state/kaede-2026-11.journal.jsonl" "$HOTLINE_N" <<'PY'
import sys
path, n = sys.argv[1], int(sys.argv[2])
at = "2026-11-25T09:00:00.000Z"
with open(path, "a") as f:
    for row in range(1, 100001):
        r = (row * 79) % n + 1
        mid = f"<{r:08x}.3f9a1c2b7d4e@kaede-travel.example>"
        f.write(f'{{"type":"attempt","row":{r},"id":"C{r:06d}","attempt":2,"message_id":"{mid}","at":"{at}"}}\n')
        f.write(f'{{"type":"outcome","row":{r},"id":"C{r:06d}","state":"deferred","attempt":2,"code":451,"enhanced":"4.2.2","reply":"mailbox full","message_id":"{mid}","at":"{at}"}}\n')
PY
T0=$(now); tsuchi status >/dev/null; T1=$(now)
row "status at $HOTLINE_N, checkpoint + 200,000 records of tail" "$(calc "round($T1 - $T0, 2)") s"
/usr/bin/time -v "$BIN" --config "$D/config.toml" --state-dir "$D/state" status >/dev/null 2>"$WORK/status-time.txt"
row "status at $HOTLINE_N, peak RSS" "$(awk -F': ' '/Maximum resident/ {printf "%d MB", $2/1024}' "$WORK/status-time.txt")"

TOKEN=$(tsuchi serve --add-agent bench | tail -1)
# The binary itself in the background (not through the function), so that kill reaches it.
"$BIN" --config "$D/config.toml" --state-dir "$D/state" serve --listen 127.0.0.1:0 --rate-limit 1000000 >"$WORK/serve.out" 2>&1 &
SERVE=$!
trap 'kill $SERVE 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do grep -q listening "$WORK/serve.out" && break; sleep 0.1; done
ADDR=$(sed -n 's|.*http://\([^/]*\)/.*|\1|p' "$WORK/serve.out" | head -1)
row "API at $HOTLINE_N, $CLIENTS clients x $PER_CLIENT lookups, the 200,000-record tail merging" \
    "$(python3 "$REPO/bench/hotline_load.py" "$ADDR" "$TOKEN" "$WORK/hotline-keys.txt" "$CLIENTS" "$PER_CLIENT")"
# By now the service has merged the tail into its index (in the background, during the run
# above): the same load again, with no merge under way.
sleep 5
row "API at $HOTLINE_N, the same once the tail is merged" \
    "$(python3 "$REPO/bench/hotline_load.py" "$ADDR" "$TOKEN" "$WORK/hotline-keys.txt" "$CLIENTS" "$PER_CLIENT")"
row "API name checks at $HOTLINE_N, 2 clients x 25 (the row read at its place in the list)" \
    "$(python3 "$REPO/bench/hotline_load.py" "$ADDR" "$TOKEN" "$WORK/hotline-keys.txt" 2 25 names)"
kill $SERVE; wait $SERVE 2>/dev/null || true
trap - EXIT
