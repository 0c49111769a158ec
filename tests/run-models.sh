#!/usr/bin/env bash
# run-models.sh GPTC_BINARY: checks the model files in models/ with gptc.
#
# - every models/*.yaml passes `check`, prints valid JSON with `check --json`,
#   and prints nothing with `check --quiet`;
# - records 8, 9 and 10 have the recipe's parameter totals
#   (docs/recipe.md, 'Dimensions and parameter counts');
# - the x0 ablations (medium-x0K on r8-medium, tiny-x0K on tiny) have K+1
#   input tables, and K x vocab x dim + K x layers more parameters than their
#   base: the extra tables and their per-layer lambdas;
# - the tiny models keep the structure of record 8 at CPU scale: a layer
#   without attention, a value-embedding table shared by two layers, a U-net
#   skip, and long and short windows of different sizes;
# - --set changes a model as a file would, after extends and in order.
# Every assertion is one test. Ends with `models: N passed, N failed`; the exit
# status is 1 when any failed.
. "$(dirname "$0")/lib.sh" models "$@"

# q JSON_FILE EXPR: evaluates the Python expression EXPR with the parsed JSON
# as `d` and prints the result; fails (printing nothing) if the file is not JSON.
q() {
    python3 - "$1" "$2" <<'EOF'
import json, sys
try:
    d = json.load(open(sys.argv[1]))
except (OSError, ValueError):
    sys.exit(1)
print(eval(sys.argv[2], {"d": d}))
EOF
}

# expect NAME ACTUAL WANTED: one test, passing when the two strings are equal
# (this runner's own expect, in place of lib.sh's).
expect() {
    if [ "$2" = "$3" ]; then
        pass "$1"
    elif [ -z "$2" ]; then
        fail "$1: no value; the model file is missing or invalid"
    else
        fail "$1: got '$2', want '$3'"
    fi
}

# json NAME MODEL [ARGS...]: runs `check MODEL --json ARGS` into $tmp/NAME.json.
json() {
    local name=$1 model=$2
    shift 2
    "$bin" check "$model" --json "$@" >"$tmp/$name.json" 2>"$tmp/$name.err"
}

total() { q "$tmp/$1.json" 'd["params"]["total"]'; }

# ---- every model ----

models=(models/*.yaml)
if [ ! -e "${models[0]}" ]; then
    fail "models/*.yaml: no model files found"
    models=()
fi
for m in "${models[@]}"; do
    name=$(basename "$m" .yaml)
    if out=$("$bin" check "$m" 2>&1); then
        pass "$m: check"
    else
        fail "$m: check exits $?" "$out"
    fi
    if json "$name" "$m" &&
        python3 -c 'import json,sys; json.load(sys.stdin)' <"$tmp/$name.json" 2>/dev/null; then
        pass "$m: check --json is valid JSON"
    else
        fail "$m: check --json is not valid JSON" "$(cat "$tmp/$name.err"; head -c 2000 "$tmp/$name.json")"
    fi
    out=$("$bin" check "$m" --quiet 2>&1)
    rc=$?
    if [ $rc -eq 0 ] && [ -z "$out" ]; then
        pass "$m: check --quiet prints nothing"
    else
        fail "$m: check --quiet exits $rc and prints $(printf %s "$out" | wc -c) bytes" "$out"
    fi
done

# ---- the records ----

expect "r8-medium: 454,496,336 parameters" "$(total r8-medium)" 454496336
expect "r9-medium: 557,422,672 parameters" "$(total r9-medium)" 557422672
expect "r10-medium-x01: 608,885,856 parameters" "$(total r10-medium-x01)" 608885856

# ---- the x0 ablations ----

# ablation FAMILY BASE: FAMILY-x01 .. x04 against the base model's JSON.
ablation() {
    local family=$1 base=$2 k per_table
    per_table=$(q "$tmp/$base.json" \
        'd["model"]["vocab"] * d["model"]["dim"] + d["model"]["layers"]')
    for k in 1 2 3 4; do
        local x=$family-x0$k
        expect "$x: $((k + 1)) input tables on every layer" \
            "$(q "$tmp/$x.json" 'sorted(set(l["x0_tables"] for l in d["layers"]))')" "[$((k + 1))]"
        expect "$x: $k x (vocab x dim + layers) more parameters than $base" \
            "$(q "$tmp/$x.json" 'd["params"]["total"]')" \
            "$(($(total "$base") + k * ${per_table:-0}))"
    done
}
ablation medium r8-medium
ablation tiny tiny

# ---- the tiny models keep record 8's structure ----

for name in tiny tiny-x01 tiny-x02 tiny-x03 tiny-x04; do
    f=$tmp/$name.json
    expect "$name: has a layer without attention" \
        "$(q "$f" 'any(not l["attention"] for l in d["layers"])')" True
    expect "$name: has a value-embedding table shared by two layers" \
        "$(q "$f" '(lambda t: any(t.count(v) >= 2 for v in set(t)))([l["value_embedding"] for l in d["layers"] if l["value_embedding"] is not None])')" True
    expect "$name: has a U-net skip" \
        "$(q "$f" 'any(l["skip_to"] for l in d["layers"]) and any(l["skip_from"] for l in d["layers"])')" True
    expect "$name: has long and short windows, the long one larger" \
        "$(q "$f" '(lambda w: bool(w.get("long")) and bool(w.get("short")) and min(w["long"]) > max(w["short"]))({k: [l["window_blocks"] for l in d["layers"] if l["window"] == k] for k in ("long", "short")})')" True
done

# ---- --set ----

json set-tiny-3 models/tiny.yaml --set input_embeddings.tables=3
expect "--set input_embeddings.tables=3 on tiny gives tiny-x02's total" \
    "$(total set-tiny-3)" "$(total tiny-x02)"

json set-r9-2 models/r9-medium.yaml --set input_embeddings.tables=2
expect "--set input_embeddings.tables=2 on r9-medium gives r10-medium-x01's total" \
    "$(total set-r9-2)" "$(total r10-medium-x01)"

json set-after-extends models/medium-x01.yaml --set input_embeddings.tables=1
expect "--set applies after extends: medium-x01 with one table is r8-medium's size" \
    "$(total set-after-extends)" "$(total r8-medium)"

json set-order models/tiny.yaml --set model.layers=4 --set model.layers=6
expect "--set applies in order: the last of two values wins" \
    "$(total set-order)" "$(total tiny)"

json set-index models/r8-medium.yaml --set value_embeddings.layers.15=null --set skips.pairs.0.1=8
expect "--set with a list index changes one entry" \
    "$(q "$tmp/set-index.json" '[l["value_embedding"] for l in d["layers"]][13:] + d["layers"][8]["skip_from"]')" \
    "[0, 1, None, 6]"

err=$("$bin" check models/tiny.yaml --set model.dimm=64 2>&1 >/dev/null)
rc=$?
if [ $rc -eq 2 ] && [[ $err == *"--set #1:1:1: error: unknown key 'model.dimm'"* ]]; then
    pass "--set of an unknown key is an error at '--set #1', exit status 2"
else
    fail "--set of an unknown key: exit status $rc" "$err"
fi

finish
