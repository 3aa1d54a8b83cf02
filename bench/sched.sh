#!/usr/bin/env bash
# Figures of the scheduler for docs/PERFORMANCE.md: a campaign with three limited carrier
# groups against Postfix's smtp-sink, its makespan against the lower bound
# max(N / global rate, max over groups of N_g / rate_g), the time the unthrottled recipients
# take against N_other / global rate, and the peak RSS of `send` over a large list with 30 % of
# it in limited groups. run.sh calls it at the end; it also runs alone:
#
#   bench/sched.sh                           # 20,000 recipients, then 8M rows for RSS_SECS
#   SCHED_N=20000 SCHED_RATE=1000 SCHED_RSS_N= bench/sched.sh   # without the 8M RSS run
#
# Needs python3, /usr/bin/time, /usr/sbin/smtp-sink and the Rust toolchain; $BIN may name a
# release tsuchi already built (else it is built into $CARGO_TARGET_DIR, default
# /work/target-bench). Scratch in $WORK (default: mktemp -d; kept afterwards).
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/work/target-bench}
SCHED_N=${SCHED_N:-20000}        # recipients of the makespan run
SCHED_RATE=${SCHED_RATE:-1000}   # global rate; the groups' rates are fractions of it
SCHED_RSS_N=${SCHED_RSS_N-8000000}
RSS_SECS=${RSS_SECS:-120}        # how long the large send runs before Ctrl-C
SESSIONS=${SESSIONS:-8}
PORT=${PORT:-$((20000 + RANDOM % 20000))}
WORK=${WORK:-$(mktemp -d /tmp/tsuchi-sched.XXXXXX)}
mkdir -p "$WORK"
RESULTS=${RESULTS:-$WORK/results.txt}
touch "$RESULTS"

if [[ -z "${BIN:-}" ]]; then
  (cd "$REPO" && cargo build --release --quiet --bin tsuchi)
  BIN=$CARGO_TARGET_DIR/release/tsuchi
fi

row() { printf '%-58s %s\n' "$1" "$2" | tee -a "$RESULTS" >&2; }
calc() { python3 -c "print($1)"; }

# The carriers' shares of the list (by row number) and their rates as fractions of the global
# rate R: each group alone needs N / R seconds, so all three and the global rate bind together
# and the lower bound is N / R; the carriers take 8 % of the global permits, as carriers at a
# few messages a second do of a campaign at hundreds.
# docomo 4 % at 0.04 R, au 2 % at 0.02 R, softbank 2 % at 0.02 R; 92 % unthrottled.
# With a third argument `30`: docomo, au and softbank 10 % each (the RSS run's 30 %).
carrier_list() {  # N OUT [30]
  python3 - "$1" "$2" "$REPO/bench/generate.py" "${3:-8}" <<'PY'
import importlib.util, sys
n, out, gen, mix = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
spec = importlib.util.spec_from_file_location("gen", gen); g = importlib.util.module_from_spec(spec); spec.loader.exec_module(g)
def domain(i):
    if mix == "30":
        k = i % 10
        return "docomo.ne.jp" if k == 1 else "ezweb.ne.jp" if k == 4 else "i.softbank.jp" if k == 7 else None
    k = i % 50
    return "docomo.ne.jp" if k in (1, 26) else "ezweb.ne.jp" if k == 13 else "i.softbank.jp" if k == 38 else None
with open(out, "w", encoding="utf-8", newline="") as f:
    f.write(g.HEADER + "\n")
    for i in range(1, n + 1):
        r = g.row(i); d = domain(i)
        f.write((r.replace("@example.jp", "@" + d) if d else r) + "\n")
PY
}

# campaign DIR LIST RATE: the repository's config with the carrier groups at fractions of RATE.
campaign() {
  local dir=$1 list=$2 rate=$3
  rm -rf "$dir"; mkdir -p "$dir"
  python3 - "$REPO/config.toml" "$dir/config.toml" "$REPO/templates" "$list" "$rate" <<'PY'
import sys
src, dst, templates, lst, rate = sys.argv[1:]
rate = float(rate)
t = open(src, encoding="utf-8").read()
t = t.replace("require_approval = true", "require_approval = false")
t = t.replace('templates = "templates"', f'templates = "{templates}"')
t = t.replace('recipients = "recipients/sample.csv"', f'recipients = "{lst}"')
for name, share in (("docomo", 0.04), ("au", 0.02), ("softbank", 0.02)):
    head = f'name = "{name}"\n'
    i = t.index(head); j = t.index("rate = 5\nburst = 5\n", i)
    t = t[:j] + f"rate = {rate * share}\nburst = 5\n" + t[j + len("rate = 5\nburst = 5\n"):]
open(dst, "w", encoding="utf-8").write(t)
PY
}

SINK_OUT=$WORK/sink.out
SINK_ARGS=(-c "127.0.0.1:$PORT" 256)
[[ $(id -u) == 0 ]] && SINK_ARGS=(-u nobody "${SINK_ARGS[@]}")
/usr/sbin/smtp-sink "${SINK_ARGS[@]}" >"$SINK_OUT" 2>&1 &
SINK_PID=$!
trap 'kill $SINK_PID 2>/dev/null || true' EXIT
sleep 0.5

echo "== sched: $SCHED_N recipients, three carrier groups, --rate $SCHED_RATE" >&2
L=$WORK/carriers-$SCHED_N.csv; [[ -s $L ]] || carrier_list "$SCHED_N" "$L"
campaign "$WORK/sched" "$L" "$SCHED_RATE"
rc=0; "$BIN" --config "$WORK/sched/config.toml" --state-dir "$WORK/sched/state" \
  send --smtp "smtp://127.0.0.1:$PORT" --rate "$SCHED_RATE" --concurrency "$SESSIONS" -q \
  >"$WORK/sched.out" 2>&1 || rc=$?
J=$(ls "$WORK"/sched/state/*.journal.jsonl)
# From the run's start marker: when the last message of all and of the unthrottled rows went.
read -r MAKESPAN OTHERS_DONE SENT N_OTHER < <(python3 - "$J" <<'PY'
import json, sys, datetime
ts = lambda s: datetime.datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()
start = None; last = 0; last_other = 0; sent = 0; n_other = 0
for line in open(sys.argv[1], encoding="utf-8"):
    r = json.loads(line)
    if r.get("type") == "run" and r.get("event") == "start" and start is None:
        start = ts(r["at"])
    if r.get("type") == "outcome" and r.get("state") == "sent":
        t = ts(r["at"]) - start; sent += 1; last = max(last, t)
        if r["row"] % 50 not in (1, 26, 13, 38):
            n_other += 1; last_other = max(last_other, t)
print(round(last, 3), round(last_other, 3), sent, n_other)
PY
)
BOUND=$(calc "max($SCHED_N / $SCHED_RATE, 0.04 * $SCHED_N / (0.04 * $SCHED_RATE), 0.02 * $SCHED_N / (0.02 * $SCHED_RATE))")
row "sched $SCHED_N (docomo 4 %, au 2 %, softbank 2 %): sent" "$SENT (exit $rc)"
row "sched: makespan / lower bound $BOUND s (target <= 1.1)" "$(calc "round($MAKESPAN / $BOUND, 3)") ($MAKESPAN s)"
row "sched: unthrottled $N_OTHER done / (N_other / rate) (target <= 1.2)" \
    "$(calc "round($OTHERS_DONE / ($N_OTHER / $SCHED_RATE), 3)") ($OTHERS_DONE s)"

if [[ -n "$SCHED_RSS_N" ]]; then
  echo "== sched: peak RSS of send over $SCHED_RSS_N rows, 30 % in limited groups, $RSS_SECS s" >&2
  L=$WORK/carriers30-$SCHED_RSS_N.csv; [[ -s $L ]] || carrier_list "$SCHED_RSS_N" "$L" 30
  campaign "$WORK/rss" "$L" "$SCHED_RATE"
  /usr/bin/time -f '%M' -o "$WORK/rss-time.txt" "$BIN" --config "$WORK/rss/config.toml" \
    --state-dir "$WORK/rss/state" send --smtp "smtp://127.0.0.1:$PORT" --rate "$SCHED_RATE" \
    --concurrency "$SESSIONS" -q >"$WORK/rss.out" 2>&1 &
  TPID=$!
  sleep "$RSS_SECS"
  kill -INT "$(pgrep -P "$TPID")" || true
  wait "$TPID" || true
  RSENT=$(grep -c '"state":"sent"' "$WORK"/rss/state/*.journal.jsonl || true)
  row "sched: send over $SCHED_RSS_N rows for $RSS_SECS s: peak RSS (target <= 100 MB)" \
      "$(calc "round($(tail -1 "$WORK/rss-time.txt")/1024, 1)") MB ($RSENT sent before Ctrl-C)"
fi
cat "$RESULTS"
