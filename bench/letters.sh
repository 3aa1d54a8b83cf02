#!/usr/bin/env bash
# Figure of `tsuchi letters` for docs/PERFORMANCE.md: LETTERS_N generated people with postal
# columns, none reached by e-mail yet (a journal from a dry run of one row), typeset into A4 PDF
# batches of 500 with the Noto CJK font embedded and subset; wall clock, CPU and peak RSS by
# /usr/bin/time -v. run.sh calls it; it also runs alone:
#
#   bench/letters.sh                    # 100,000 letters
#   LETTERS_N=10000 bench/letters.sh
#
# Needs python3, /usr/bin/time, fonts-noto-cjk and the Rust toolchain; $BIN may name a release
# tsuchi already built. Scratch in $WORK (default: mktemp -d; kept afterwards).
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/work/target-bench}
LETTERS_N=${LETTERS_N:-100000}
FONT=${FONT:-/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc}
WORK=${WORK:-$(mktemp -d /tmp/tsuchi-letters.XXXXXX)}
mkdir -p "$WORK"
RESULTS=${RESULTS:-$WORK/results.txt}
touch "$RESULTS"

if [[ -z "${BIN:-}" ]]; then
  (cd "$REPO" && cargo build --release --quiet --bin tsuchi)
  BIN=$CARGO_TARGET_DIR/release/tsuchi
fi

# The campaign: the sample config and templates, a generated list with postal columns.
cp -r "$REPO/templates" "$WORK/"
python3 "$REPO/bench/generate.py" "$LETTERS_N" "$WORK/base.csv"
python3 - "$WORK/base.csv" "$WORK/list.csv" <<'PY'
import random, sys
random.seed(7)
src, dst = sys.argv[1], sys.argv[2]
prefs = ["東京都千代田区", "大阪府大阪市北区", "北海道札幌市中央区", "福岡県福岡市博多区", "愛知県名古屋市中区"]
with open(src, encoding="utf-8") as f, open(dst, "w", encoding="utf-8", newline="") as out:
    out.write(f.readline().rstrip("\n") + ",postal_code,address1,address2\n")
    for i, line in enumerate(f, 1):
        code = f"{random.randrange(100, 1000)}-{random.randrange(0, 10000):04d}"
        out.write(f"{line.rstrip()},{code},{random.choice(prefs)}架空町{i % 97 + 1}-{i % 13 + 1},"
                  f"架空ビル{i % 9 + 1}F\n")
PY
sed -e "s|^recipients = .*|recipients = \"list.csv\"|" "$REPO/config.toml" > "$WORK/config.toml"
cat >> "$WORK/config.toml" <<TOML

[letters]
postal_code = "postal_code"
address = ["address1", "address2"]
name = "name"
font = "$FONT"
font_index = 0
return_address = ["〒100-0005 東京都千代田区丸の内9-9-9", "楓トラベル株式会社 お客様窓口"]
TOML

cd "$WORK"
rm -rf state out
"$BIN" --config config.toml send --dry-run --limit 1 -q >/dev/null 2>&1 || true
/usr/bin/time -v "$BIN" --config config.toml --state-dir state/outbox letters --out out \
  >"$WORK/letters.out" 2>"$WORK/letters.time"
wall=$(grep 'Elapsed (wall clock)' "$WORK/letters.time" | awk '{print $NF}')
user=$(grep 'User time' "$WORK/letters.time" | awk '{print $NF}')
sys=$(grep 'System time' "$WORK/letters.time" | awk '{print $NF}')
rss=$(grep 'Maximum resident set size' "$WORK/letters.time" | awk '{print $NF}')
pdfs=$(find out -name '*.pdf' | wc -l)
printf '%-58s %s\n' "letters: $LETTERS_N people, $pdfs PDF files, wall clock" "$wall" | tee -a "$RESULTS" >&2
printf '%-58s %s\n' "letters: CPU user + system (s)" "$user + $sys" | tee -a "$RESULTS" >&2
printf '%-58s %s\n' "letters: peak RSS (KiB)" "$rss" | tee -a "$RESULTS" >&2
