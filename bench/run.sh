#!/usr/bin/env bash
# End-to-end figures for docs/PERFORMANCE.md: check throughput and memory, send throughput
# against Postfix's smtp-sink next to smtp-source, resume of a 90 %-done 1M campaign,
# --rate accuracy, and the scheduler's carrier groups (bench/sched.sh). Prints a table at the
# end (also written to $WORK/results.txt).
#
#   bench/run.sh                      # everything (the 8M list is ~630 MB and takes minutes)
#   SKIP_8M=1 INGEST_N= bench/run.sh  # quick: sizes 100k and 1M only, no 8M ingest
#   SKIP_HOTLINE=1 bench/run.sh       # without the hotline's 8M lookups (bench/hotline.sh)
#   SKIP_LETTERS=1 bench/run.sh       # without the 100,000 letters (bench/letters.sh)
#   SIZES="100000 1000000 4000000" SEND_N=20000 RATE=200 RATE_SECS=30 bench/run.sh
#
# Needs: python3, /usr/bin/time (apt-get install time), Postfix's smtp-sink and smtp-source
# (apt-get install postfix), and the Rust toolchain. Uses $CARGO_TARGET_DIR (default
# /work/target-bench) and a scratch directory $WORK (default: mktemp -d; kept afterwards).
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/work/target-bench}
SIZES=${SIZES:-"100000 1000000 8000000"}
if [[ -n "${SKIP_8M:-}" ]]; then SIZES=${SIZES//8000000/}; fi
CHECK_N=${CHECK_N:-1000000}      # the check-throughput figure
SEND_N=${SEND_N:-20000}          # messages for the throughput comparison
SESSIONS=${SESSIONS:-8}
MSG_LEN=${MSG_LEN:-3000}         # smtp-source payload, about a notice's size
RESUME_N=${RESUME_N:-1000000}    # list size of the resume test; 90 % journaled as sent
RATE=${RATE:-200}
RATE_SECS=${RATE_SECS:-30}
PORT=${PORT:-$((20000 + RANDOM % 20000))}
WORK=${WORK:-$(mktemp -d /tmp/tsuchi-bench.XXXXXX)}
mkdir -p "$WORK"
RESULTS=$WORK/results.txt
: >"$RESULTS"

for tool in python3 /usr/bin/time /usr/sbin/smtp-sink /usr/sbin/smtp-source; do
  command -v "$tool" >/dev/null || { echo "missing $tool (apt-get install time postfix)" >&2; exit 2; }
done

echo "== building (release) into $CARGO_TARGET_DIR; scratch in $WORK" >&2
(cd "$REPO" && cargo build --release --quiet --bin tsuchi --example fake_journal --example ingest_only)
BIN=$CARGO_TARGET_DIR/release/tsuchi
FAKE=$CARGO_TARGET_DIR/release/examples/fake_journal
INGEST=$CARGO_TARGET_DIR/release/examples/ingest_only
# Diagnostic: TCP_NODELAY on tsuchi's sockets (bench/nodelay_preload.c); empty if no compiler.
NODELAY=$WORK/nodelay.so
gcc -O2 -shared -fPIC -o "$NODELAY" "$REPO/bench/nodelay_preload.c" -ldl 2>/dev/null || NODELAY=

row() { printf '%-58s %s\n' "$1" "$2" | tee -a "$RESULTS" >&2; }
now() { date +%s.%N; }
calc() { python3 -c "print($1)"; }

# list N -> path of a generated list of N recipients (cached in $WORK).
list() {
  local f=$WORK/list-$1.csv
  [[ -s $f ]] || { echo "   generating $1 rows" >&2; python3 "$REPO/bench/generate.py" "$1" "$f"; }
  echo "$f"
}

# campaign DIR LIST: a campaign directory using the repository's config and templates.
campaign() {
  local dir=$1 list=$2
  rm -rf "$dir"; mkdir -p "$dir"
  sed -e 's/^require_approval = true/require_approval = false/' \
      -e "s|^templates = \"templates\"|templates = \"$REPO/templates\"|" \
      -e "s|^recipients = \"recipients/sample.csv\"|recipients = \"$list\"|" \
      "$REPO/config.toml" >"$dir/config.toml"
}

tsuchi() { local dir=$1; shift; "$BIN" --config "$dir/config.toml" --state-dir "$dir/state" "$@"; }

# timed OUT CMD...: runs CMD under /usr/bin/time; sets WALL (s, from date) and RSS (KB).
timed() {
  local out=$1; shift
  local t0 t1 rc=0
  t0=$(now)
  /usr/bin/time -f '%M' -o "$WORK/time.txt" "$@" >"$out" 2>&1 || rc=$?
  t1=$(now)
  WALL=$(calc "round($t1 - $t0, 3)")
  RSS=$(tail -1 "$WORK/time.txt")
  return $rc
}

echo "== machine" >&2
{
  echo "nproc: $(nproc)"
  lscpu | sed -n 's/^Model name: *//p' | sed 's/^/cpu: /'
  free -m | awk '/^Mem:/ {print "memory: " $2 " MiB"}'
  echo "kernel: $(uname -r)"
  echo "load average at start: $(cut -d" " -f1-3 /proc/loadavg)"
  echo "tsuchi: $(git -C "$REPO" rev-parse --short HEAD)"
} | tee -a "$RESULTS" >&2

echo "== check: throughput on $CHECK_N rows, python csv iteration" >&2
L=$(list "$CHECK_N"); campaign "$WORK/check" "$L"
cat "$L" >/dev/null  # warm the page cache
rc=0; timed "$WORK/check.out" "$BIN" --config "$WORK/check/config.toml" --state-dir "$WORK/check/state" check || rc=$?
grep -q "ready to send *$CHECK_N" "$WORK/check.out" || { echo "check did not pass every row (exit $rc):" >&2; tail -20 "$WORK/check.out" >&2; exit 1; }
CHECK_WALL=$WALL; CHECK_RSS=$RSS
timed "$WORK/python.out" python3 -c 'import csv,sys; sum(1 for _ in csv.reader(open(sys.argv[1], newline="", encoding="utf-8")))' "$L"
PY_WALL=$WALL
row "check ${CHECK_N} rows: wall" "${CHECK_WALL} s"
row "check ${CHECK_N} rows: rows/s (target >= 300000)" "$(calc "round($CHECK_N / $CHECK_WALL)")"
row "python csv iteration of the same file: wall" "${PY_WALL} s"
row "check / python csv time (target <= 2.0)" "$(calc "round($CHECK_WALL / $PY_WALL, 2)")"

echo "== check: peak RSS at $SIZES rows" >&2
for n in $SIZES; do
  if [[ $n == "$CHECK_N" ]]; then  # measured above
    row "check ${n} rows: peak RSS (target <= 100 MB) / wall / rows/s" \
        "$(calc "round($CHECK_RSS/1024, 1)") MB / ${CHECK_WALL} s / $(calc "round($n / $CHECK_WALL)")"
    continue
  fi
  L=$(list "$n"); campaign "$WORK/rss" "$L"
  timed "$WORK/rss-$n.out" "$BIN" --config "$WORK/rss/config.toml" --state-dir "$WORK/rss/state" check || true
  grep -q "ready to send *$n" "$WORK/rss-$n.out" || { echo "check $n did not pass every row" >&2; tail "$WORK/rss-$n.out" >&2; }
  row "check ${n} rows: peak RSS (target <= 100 MB) / wall / rows/s" \
      "$(calc "round($RSS/1024, 1)") MB / ${WALL} s / $(calc "round($n / $WALL)")"
done

INGEST_N=${INGEST_N:-8000000}   # reader only (no rendering): memory of duplicate detection
if [[ -n "$INGEST_N" ]]; then
  L=$(list "$INGEST_N"); campaign "$WORK/ingest" "$L"
  timed "$WORK/ingest.out" "$INGEST" "$WORK/ingest/config.toml" "$L" || true
  row "ingest only (RecipientReader, no render) ${INGEST_N} rows: RSS / wall" \
      "$(calc "round($RSS/1024, 1)") MB / ${WALL} s ($(cat "$WORK/ingest.out"))"
fi

# --- SMTP ---
SINK_OUT=$WORK/sink.out
SINK_ARGS=(-c "127.0.0.1:$PORT" 256)
[[ $(id -u) == 0 ]] && SINK_ARGS=(-u nobody "${SINK_ARGS[@]}")
/usr/sbin/smtp-sink "${SINK_ARGS[@]}" >"$SINK_OUT" 2>&1 &
SINK_PID=$!
trap 'kill $SINK_PID 2>/dev/null || true' EXIT
sleep 0.5
# messages the sink has received so far (its -c counter line "... mesg=N").
sink_count() { tr '\r' '\n' <"$SINK_OUT" | sed -n 's/.*mesg=\([0-9]*\).*/\1/p' | tail -1 | sed 's/^$/0/'; }

echo "== send: $SEND_N messages, $SESSIONS sessions, smtp-source vs tsuchi" >&2
SRC_ARGS=(-s "$SESSIONS" -m "$SEND_N" -l "$MSG_LEN" -f bounce@kaede-travel.example -t user@example.jp "127.0.0.1:$PORT")
timed "$WORK/src.out" /usr/sbin/smtp-source "${SRC_ARGS[@]}"
SRC_WALL=$WALL
timed "$WORK/src-d.out" /usr/sbin/smtp-source -d "${SRC_ARGS[@]}"
SRC_D_WALL=$WALL
L=$(list "$SEND_N"); campaign "$WORK/send" "$L"
before=$(sink_count)
rc=0; timed "$WORK/send.out" "$BIN" --config "$WORK/send/config.toml" --state-dir "$WORK/send/state" \
  send --smtp "smtp://127.0.0.1:$PORT" --rate 0 --concurrency "$SESSIONS" -q || rc=$?
sleep 0.3; got=$(( $(sink_count) - before ))
[[ $rc == 0 && $got == "$SEND_N" ]] || echo "WARNING: tsuchi send exit $rc, sink received $got of $SEND_N" >&2
SEND_WALL=$WALL; SEND_RSS=$RSS
# a notice's size: one message written by a dry run
campaign "$WORK/size" "$L"
"$BIN" --config "$WORK/size/config.toml" --state-dir "$WORK/size/state" send --dry-run --limit 20 -q >/dev/null 2>&1 || true
EML=$(python3 -c 'import glob,os,sys; f=glob.glob(sys.argv[1]+"/**/*.eml",recursive=True); print(sum(map(os.path.getsize,f))//max(1,len(f)))' "$WORK/size/state")
SRC_RATE=$(calc "round($SEND_N / $SRC_WALL)"); SRC_D_RATE=$(calc "round($SEND_N / $SRC_D_WALL)")
SEND_RATE=$(calc "round($SEND_N / $SEND_WALL)")
row "smtp-source -s $SESSIONS -l $MSG_LEN (new connection per message): msg/s" "$SRC_RATE (${SRC_WALL} s)"
row "smtp-source -d -s $SESSIONS (one connection per session): msg/s" "$SRC_D_RATE (${SRC_D_WALL} s)"
row "tsuchi send --rate 0 --concurrency $SESSIONS, journal on: msg/s" "$SEND_RATE (${SEND_WALL} s, ${got} received, avg .eml ${EML} B, RSS $(calc "round($SEND_RSS/1024,1)") MB)"
if [[ -n "$NODELAY" ]]; then
  campaign "$WORK/send-nd" "$L"; before=$(sink_count)
  timed "$WORK/send-nd.out" env LD_PRELOAD="$NODELAY" "$BIN" --config "$WORK/send-nd/config.toml" \
    --state-dir "$WORK/send-nd/state" send --smtp "smtp://127.0.0.1:$PORT" --rate 0 --concurrency "$SESSIONS" -q || true
  sleep 0.3; got=$(( $(sink_count) - before ))
  row "diagnostic: same send with TCP_NODELAY (LD_PRELOAD): msg/s" "$(calc "round($SEND_N / $WALL)") (${WALL} s, ${got} received)"
fi
row "tsuchi / smtp-source (target >= 0.8)" "$(calc "round($SEND_RATE / $SRC_RATE, 2)")"
row "tsuchi / smtp-source -d" "$(calc "round($SEND_RATE / $SRC_D_RATE, 2)")"

echo "== resume: $RESUME_N-row campaign, 90 % journaled as sent, send --limit 1" >&2
L=$(list "$RESUME_N"); campaign "$WORK/resume" "$L"
DONE=$(( RESUME_N * 9 / 10 ))
"$FAKE" "$WORK/resume/config.toml" "$WORK/resume/state" "$DONE" >&2
J=$(ls "$WORK"/resume/state/*.journal.jsonl)
timed "$WORK/status.out" "$BIN" --config "$WORK/resume/config.toml" --state-dir "$WORK/resume/state" status || true
row "status (replays $(( 2 * DONE + 2 )) records + reads list): wall / RSS" "${WALL} s / $(calc "round($RSS/1024,1)") MB"
before=$(sink_count)
T0=$(now)
rc=0; timed "$WORK/resume.out" "$BIN" --config "$WORK/resume/config.toml" --state-dir "$WORK/resume/state" \
  send --smtp "smtp://127.0.0.1:$PORT" --rate 0 --concurrency "$SESSIONS" --limit 1 -q || rc=$?
sleep 0.3; got=$(( $(sink_count) - before ))
# The first attempt this run journaled, against the moment the process was started.
FIRST=$(tail -n 50 "$J" | python3 -c '
import json, sys
from datetime import datetime, timezone
t0 = float(sys.argv[1])
for line in sys.stdin:
    r = json.loads(line)
    if r.get("type") == "attempt":
        at = datetime.strptime(r["at"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)
        if at.timestamp() >= t0:
            print(round(at.timestamp() - t0, 2)); break
' "$T0")
row "resume 90 % of $RESUME_N: first attempt after (target < 2 s)" "${FIRST:-?} s"
row "resume 90 % of $RESUME_N: send --limit 1 wall" "${WALL} s (exit $rc, ${got} received, RSS $(calc "round($RSS/1024,1)") MB)"
tail -3 "$WORK/resume.out" >&2

echo "== --rate $RATE for ${RATE_SECS}s" >&2
RN=$(( RATE * RATE_SECS ))
L=$(list "$RN"); campaign "$WORK/rate" "$L"
rc=0; timed "$WORK/rate.out" "$BIN" --config "$WORK/rate/config.toml" --state-dir "$WORK/rate/state" \
  send --smtp "smtp://127.0.0.1:$PORT" --rate "$RATE" --concurrency "$SESSIONS" -q || rc=$?
JR=$(ls "$WORK"/rate/state/*.journal.jsonl)
# rate between the first and the last `sent` outcome, from the journal's timestamps
read -r JN JSPAN < <(python3 - "$JR" <<'PY'
import json, sys, datetime
ts = []
for line in open(sys.argv[1], encoding="utf-8"):
    r = json.loads(line)
    if r.get("type") == "outcome" and r.get("state") == "sent":
        ts.append(datetime.datetime.fromisoformat(r["at"].replace("Z", "+00:00")).timestamp())
ts.sort()
print(len(ts), round(ts[-1] - ts[0], 3))
PY
)
row "--rate $RATE, $RN messages: wall / achieved (messages / wall)" "${WALL} s / $(calc "round($RN / $WALL, 2)") msg/s (exit $rc)"
row "--rate $RATE: journal first..last sent: rate, deviation (target +-2 %)" \
    "$(calc "round(($JN - 1) / $JSPAN, 2)") msg/s, $(calc "round((($JN - 1) / $JSPAN / $RATE - 1) * 100, 2)") %"

if [[ -n "$NODELAY" ]]; then
  campaign "$WORK/rate-nd" "$L"
  timed "$WORK/rate-nd.out" env LD_PRELOAD="$NODELAY" "$BIN" --config "$WORK/rate-nd/config.toml" \
    --state-dir "$WORK/rate-nd/state" send --smtp "smtp://127.0.0.1:$PORT" --rate "$RATE" --concurrency "$SESSIONS" -q || true
  row "diagnostic: --rate $RATE with TCP_NODELAY: messages / wall" "$(calc "round($RN / $WALL, 2)") msg/s ($(calc "round(($RN / $WALL / $RATE - 1) * 100, 2)") %)"
fi

# The scheduler: carrier groups' makespan and the unthrottled recipients' time (bench/sched.sh).
BIN=$BIN WORK=$WORK/sched RESULTS=$RESULTS PORT=$((PORT + 1)) "$REPO/bench/sched.sh" >/dev/null

# Letters: 100,000 A4 letters typeset with the CJK font embedded (bench/letters.sh).
if [[ -z "${SKIP_LETTERS:-}" ]]; then
  BIN=$BIN WORK=$WORK/letters RESULTS=$RESULTS "$REPO/bench/letters.sh"
fi

if [[ -z "${SKIP_HOTLINE:-}" ]]; then
  echo "== hotline: lookup, status and the API at ${HOTLINE_N:-8000000} recipients" >&2
  WORK=$WORK "$REPO/bench/hotline.sh" | tee -a "$RESULTS" >&2
fi

echo >&2
echo "== results ($RESULTS)" >&2
cat "$RESULTS"
