#!/usr/bin/env bash
# run-train.sh GPTC: end-to-end tests of `gptc data`, `gptc train` and
# `gptc export` on tests/train/micro.yaml (two ranks, several shards).
#   - a run writes train.log, metrics.jsonl and a checkpoint, and learns;
#   - 20 steps straight and 10 + --resume + 10 give bit-identical parameters;
#   - a resume that would change the model, schedule, data, seed or ranks is
#     refused with every difference, and goes on with --accept-changes;
#     every start and resume has a run record with its manifest; the export
#     carries the model; data that cannot feed the run is refused before
#     step 1; train.data.repeat wraps, bit-identically across a resume;
#   - a process killed while writing a checkpoint leaves the previous one
#     loadable, and the run resumes from it;
#   - bad data, bad checkpoints and misuse are clear errors with status 2,
#     and lose nothing;
# (A NaN loss, which no valid model produces on demand, is tested in
# tests/unit/test_train.c with an executor that injects one.)
. "$(dirname "$0")/lib.sh" train "$@"
gptc=$bin

# Data: the demo corpus cut into small shards so runs cross shard boundaries.
head -c 300000 data/demo/corpus.txt > "$tmp/text.txt"
if "$gptc" data "$tmp/text.txt" -o "$tmp/data" --name t --paragraphs --val-fraction 0.1 \
        --shard-tokens 60000 > "$tmp/data.out" 2>&1; then
    pass "gptc data writes shards ($(ls "$tmp"/data/t_train_*.bin | wc -l) train shards)"
else
    fail "gptc data" "$(tail -n 15 "$tmp/data.out")"
fi
model=tests/train/micro.yaml
sets=(--set "train.data.train=$tmp/data/t_train_*.bin" --set "train.data.val=$tmp/data/t_val_*.bin")

train() { "$gptc" train "$model" "${sets[@]}" --no-progress --threads 2 "$@"; }

params() { "$gptc" export "$1/ckpt.bin" -o "$2" --fp32 > /dev/null 2>&1; }

# A whole run.
expect 0 "a run of 20 steps finishes" "done at step 20" -- train --run-dir "$tmp/a"
for f in train.log metrics.jsonl ckpt.bin; do
    [ -s "$tmp/a/$f" ] && pass "the run wrote $f" || fail "the run wrote no $f"
done
grep -q '^step:20/20 val_loss:[0-9.]* train_time:[0-9]*ms step_avg:[0-9.]*ms$' "$tmp/a/train.log" \
    && pass "train.log has modded-nanogpt's val lines" || fail "train.log format" "$(tail -n 15 "$tmp/a/train.log")"
python3 - "$tmp/a/metrics.jsonl" > "$tmp/m.out" 2>&1 <<'EOF' && pass "metrics.jsonl: valid, with every scalar per layer, and the loss falls" || fail "metrics.jsonl" "$(tail -n 15 "$tmp/m.out")"
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
assert recs[0]["kind"] == "run" and recs[0]["spec"]["model.layers"] == 4
vals = [r for r in recs if r["kind"] == "val"]
assert [v["step"] for v in vals] == [0, 5, 10, 15, 20], [v["step"] for v in vals]
sc = vals[-1]["scalars"]
for k in ["skip", "lambda_x", "lambda_x00", "lambda_x01", "sa_v", "sa_ve"]:
    assert len(sc[k]) == 4, k
assert sc["lambda_x01"] != [0.0] * 4, "x01's lambdas never moved"
assert vals[-1]["val_loss"] < vals[0]["val_loss"] - 0.3, [v["val_loss"] for v in vals]
assert len([r for r in recs if r["kind"] == "train"]) == 20
EOF

# The sim executor (the generated kernels and schedule on this CPU) through
# the same trainer: micro.yaml's two slices per step go through the host
# gradient sum and back to the device; its optimizer state is checkpointed
# under ref's names, so that a resumed run is bit-identical; and its
# validation loss stays within bf16's reach of ref's.
expect 0 "sim: 6 steps" "done at step 6" -- train --backend sim --run-dir "$tmp/s1" --steps 6
expect 0 "sim: 3 steps then stop" "done at step 3" -- train --backend sim --run-dir "$tmp/s2" --steps 3
expect 0 "sim: --resume continues to 6" "resuming at step 3" -- train --backend sim --run-dir "$tmp/s2" --steps 6 --resume
if params "$tmp/s1" "$tmp/s1.st" && params "$tmp/s2" "$tmp/s2.st" && cmp -s "$tmp/s1.st" "$tmp/s2.st"; then
    pass "sim: 6 steps straight and 3 + resume + 3 give bit-identical parameters"
else
    fail "sim: resumed parameters differ"
fi
expect 0 "ref: 6 steps" "done at step 6" -- train --backend ref --run-dir "$tmp/r1" --steps 6
python3 - "$tmp/s1/metrics.jsonl" "$tmp/r1/metrics.jsonl" > "$tmp/sv.out" 2>&1 <<'EOF2' &&
import json, sys
val = lambda f: [r["val_loss"] for r in map(json.loads, open(f)) if r["kind"] == "val" and r["step"] == 5][0]
s, r = val(sys.argv[1]), val(sys.argv[2])
print("sim %.6f ref %.6f rel %.2e" % (s, r, abs(s - r) / r))
assert abs(s - r) / r <= 5e-3
EOF2
    pass "sim: validation loss at step 5 within 5e-3 of ref's ($(cat "$tmp/sv.out"))" || fail "sim vs ref validation loss" "$(tail -n 15 "$tmp/sv.out")"

# Resume: 10 + 10 equals 20, bit for bit.
expect 0 "10 steps then stop" "done at step 10" -- train --run-dir "$tmp/b" --steps 10
expect 0 "--resume continues to 20" "resuming at step 10" -- train --run-dir "$tmp/b" --resume
if params "$tmp/a" "$tmp/a.st" && params "$tmp/b" "$tmp/b.st" && cmp -s "$tmp/a.st" "$tmp/b.st"; then
    pass "20 steps straight and 10 + resume + 10 give bit-identical parameters"
else
    fail "resumed parameters differ from an uninterrupted run"
fi
cmp -s <(grep val_loss "$tmp/a/train.log" | sed 's/ train_time.*//') \
       <(grep val_loss "$tmp/b/train.log" | sed 's/ train_time.*//') \
    && pass "the resumed run's val losses equal the uninterrupted run's" || fail "val losses differ after resume"

# Resume refuses silent changes (runtime/train/resume.h): each class of change is
# refused with its `key: old -> new` line and the options that undo it, and
# the checkpoint is left as it was; --accept-changes goes on and records
# the change; another executor is allowed and reported.
expect 0 "4 steps of a run to resume" "done at step 4" -- train --run-dir "$tmp/h" --steps 4
cp "$tmp/h/ckpt.bin" "$tmp/h.ckpt"
refused() { # refused WHAT LINE UNDO -- ARGS...: refused, naming LINE and UNDO, checkpoint kept
    local what=$1 line=$2 undo=$3
    shift 4
    expect 2 "resume refuses another $what" "$line" -- train --run-dir "$tmp/h" --resume --steps 5 "$@"
    grep -qF -- "$undo" "$tmp/out" && grep -qF -- "--accept-changes" "$tmp/out" &&
        pass "the refusal of another $what names the undo ($undo) and --accept-changes" ||
        fail "the refusal of another $what" "$(cat "$tmp/out")"
    cmp -s "$tmp/h/ckpt.bin" "$tmp/h.ckpt" || fail "a refused resume changed the checkpoint"
}
refused "value-embedding map" "value_embeddings.layers: [0, 1, null, 0] -> [1, 0, null, 1]" \
    "--set 'value_embeddings.layers=[0, 1, null, 0]'" -- --set "value_embeddings.layers=[1, 0, null, 1]"
refused "skip" "skips.pairs: [[0, 3]] -> [[1, 3]]" "--set 'skips.pairs=[[0, 3]]'" -- --set "skips.pairs=[[1,3]]"
refused "window" "attention.window.max_tokens: 64 -> 32" "--set 'attention.window.max_tokens=64'" -- \
    --set attention.window.max_tokens=32
refused "schedule" "train.steps: 20 -> 40" "--set 'train.steps=20'" -- --set train.steps=40
refused "seed" "train.seed: 0 -> 7" "--set 'train.seed=0'" -- --set train.seed=7
mkdir -p "$tmp/data2" && cp "$tmp"/data/t_train_*.bin "$tmp/data2/"
refused "data glob" "train.data.train: \"$tmp/data/t_train_*.bin\" -> \"$tmp/data2/t_train_*.bin\"" \
    "train.data.train=\"$tmp/data/t_train_*.bin\"" -- --set "train.data.train=$tmp/data2/t_train_*.bin"
# The same glob over other data: its shard and token counts differ.
mkdir -p "$tmp/data3" && cp "$tmp"/data/t_train_*.bin "$tmp/data3/"
d3=(--set "train.data.train=$tmp/data3/t_train_*.bin")
train "${d3[@]}" --run-dir "$tmp/h3" --steps 2 > /dev/null 2>&1
rm "$(ls "$tmp"/data3/t_train_*.bin | tail -n 1)"
expect 2 "resume refuses training data that changed under the same glob" "train data tokens: " -- \
    train "${d3[@]}" --run-dir "$tmp/h3" --resume
grep -qF "train data shards: $(ls "$tmp"/data/t_train_*.bin | wc -l) -> $(ls "$tmp"/data3/t_train_*.bin | wc -l)" \
    "$tmp/out" && pass "the refusal counts the shards before and after" || fail "shard counts" "$(cat "$tmp/out")"
expect 2 "--accept-changes needs --resume" "--accept-changes goes with --resume" -- \
    train --run-dir "$tmp/h4" --accept-changes
expect 0 "--accept-changes resumes with a longer schedule" "train.steps: 20 -> 24 (accepted)" -- \
    train --run-dir "$tmp/h" --resume --accept-changes --set train.steps=24 --steps 6
expect 0 "another executor is allowed and reported" 'executor: "ref" -> "sim"' -- \
    train --run-dir "$tmp/h" --resume --backend sim --set train.steps=24 --steps 7
python3 - "$tmp/h/metrics.jsonl" > "$tmp/rr.out" 2>&1 <<'EOF' && pass "every start and resume has a run record with its manifest and changes" || fail "run records" "$(tail -n 15 "$tmp/rr.out")"
import json, sys
runs = [r for r in map(json.loads, open(sys.argv[1])) if r["kind"] == "run"]
assert [(r["event"], r["step"]) for r in runs] == [("start", 0), ("resume", 4), ("resume", 6)], runs
assert "changes" not in runs[0]
assert runs[1]["changes"] == [{"key": "train.steps", "old": 20, "new": 24, "how": "accepted"}], runs[1]["changes"]
assert runs[2]["changes"] == [{"key": "executor", "old": "ref", "new": "sim", "how": "reported"}], runs[2]["changes"]
assert runs[1]["spec"]["train.steps"] == 24 and runs[0]["spec"]["train.steps"] == 20
for r in runs:
    m = r["manifest"]
    for k in ["gptc", "commit", "command", "executor", "threads", "ranks", "host", "cpu", "blas", "start_utc"]:
        assert k in m, k
    assert m["blas"]["kernel"], m["blas"]
    assert " train " in m["command"] and "--run-dir" in m["command"], m["command"]
assert runs[2]["manifest"]["executor"] == "sim" and "sim" in runs[2]["manifest"]
assert "--resume" in runs[1]["manifest"]["command"]
EOF
"$gptc" export "$tmp/h/ckpt.bin" -o "$tmp/h.safetensors" > /dev/null 2>&1
"$gptc" check "$tmp/h.safetensors" --json > "$tmp/h.check" 2>&1
"$gptc" check "$model" "${sets[@]}" --set train.steps=24 --json > "$tmp/h.model" 2>&1
python3 - "$tmp/h.check" "$tmp/h.model" "$tmp/h.safetensors" > "$tmp/ex.out" 2>&1 <<'EOF' && pass "the export carries its model: gptc check of the file gives the run's spec, and its step" || fail "the export's model" "$(tail -n 15 "$tmp/ex.out")"
import json, struct, sys
a, b = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
assert a["spec"] == b["spec"], [k for k in a["spec"] if a["spec"][k] != b["spec"].get(k)]
assert a["params"] == b["params"]
f = open(sys.argv[3], "rb")
meta = json.loads(f.read(struct.unpack("<Q", f.read(8))[0]))["__metadata__"]
assert meta["gptc.step"] == "7", meta["gptc.step"]
EOF

# Data problems are found before step 1, and leave no run directory.
expect 2 "data too short for the steps is refused before step 1" "holds " -- \
    train --run-dir "$tmp/short" --set train.steps=100000
grep -qF -- "train.data.repeat=true" "$tmp/out" && [ ! -e "$tmp/short" ] &&
    pass "it says what to change, and leaves no run directory" || fail "short data" "$(cat "$tmp/out")"
expect 2 "a missing data glob" "no file matches" -- train --run-dir "$tmp/nodata" \
    --set "train.data.val=$tmp/nothing/*.bin"
[ ! -e "$tmp/nodata" ] && pass "a missing data glob leaves no run directory" || fail "a run directory was left"
# train.data.repeat: the data starts again at its end, each pass is logged,
# and a resume across a wrap is bit-identical.
head -c 1500 "$tmp/text.txt" > "$tmp/small.txt"
"$gptc" data "$tmp/small.txt" -o "$tmp/small" --name s --paragraphs --val-fraction 0 > /dev/null 2>&1
rep=(--set "train.data.train=$tmp/small/s_train_*.bin" --set train.data.repeat=true --set train.steps=40)
expect 0 "train.data.repeat runs past the end of the data" "starting it again" -- \
    train --run-dir "$tmp/rep1" "${rep[@]}"
expect 0 "repeat: 17 steps then stop" "done at step 17" -- train --run-dir "$tmp/rep2" "${rep[@]}" --steps 17
expect 0 "repeat: resume to 40" "done at step 40" -- train --run-dir "$tmp/rep2" "${rep[@]}" --resume
if params "$tmp/rep1" "$tmp/rep1.st" && params "$tmp/rep2" "$tmp/rep2.st" && cmp -s "$tmp/rep1.st" "$tmp/rep2.st" &&
    [ "$(grep -c '"kind": "data"' "$tmp/rep1/metrics.jsonl")" -ge 2 ] &&
    cmp -s <(grep '"kind": "data"' "$tmp/rep1/metrics.jsonl") <(grep '"kind": "data"' "$tmp/rep2/metrics.jsonl"); then
    pass "repeat: each wrap logged, and a resume across the wraps is bit-identical"
else
    fail "repeat: resumed parameters or wrap records differ" "$(grep '"kind": "data"' "$tmp"/rep*/metrics.jsonl)"
fi

# Misuse and bad input: clear errors, status 2, nothing lost.
expect 2 "a second run into a used directory is refused" "already holds a run" -- \
    train --run-dir "$tmp/a"
expect 2 "--resume with no checkpoint" "holds no checkpoint" -- train --run-dir "$tmp/none" --resume
expect 2 "a checkpoint of another model" "another model" -- \
    train --run-dir "$tmp/a" --resume --set model.dim=64 --accept-changes
expect 2 "an empty glob" "no file matches" -- \
    train --run-dir "$tmp/c" --set "train.data.train=$tmp/nothing_*.bin"
cp "$tmp/data/t_val_000000.bin" "$tmp/trunc_val_000000.bin"
truncate -s -3 "$tmp/trunc_val_000000.bin"
expect 2 "a truncated shard" "trunc_val_000000.bin" -- \
    train --run-dir "$tmp/d" --set "train.data.val=$tmp/trunc_val_*.bin"
cp "$tmp/data/t_val_000000.bin" "$tmp/magic_val_000000.bin"
printf '\x00\x00\x00\x00' | dd of="$tmp/magic_val_000000.bin" conv=notrunc status=none
expect 2 "a shard with the wrong magic" "magic" -- \
    train --run-dir "$tmp/e" --set "train.data.val=$tmp/magic_val_*.bin"
expect 2 "too few tokens for one batch" "tokens" -- \
    train --run-dir "$tmp/f" --set train.tokens_per_rank=65536 --set train.val.tokens_per_rank=65536 \
    --set train.val.tokens=131072
cp "$tmp/a/ckpt.bin" "$tmp/a.keep"
printf 'X' | dd of="$tmp/a/ckpt.bin" bs=1 seek=5000 conv=notrunc status=none
expect 2 "a corrupt checkpoint" "checksum" -- train --run-dir "$tmp/a" --resume
cp "$tmp/a.keep" "$tmp/a/ckpt.bin"
truncate -s 1000 "$tmp/a/ckpt.bin"
expect 2 "a truncated checkpoint" "ckpt.bin" -- train --run-dir "$tmp/a" --resume
expect 2 "export of a truncated checkpoint" "ckpt.bin" -- "$gptc" export "$tmp/a/ckpt.bin" -o "$tmp/x.st"
[ ! -e "$tmp/x.st" ] && pass "a failed export writes no file" || fail "a failed export left a file"
expect 2 "an unknown backend" "unknown backend" -- train --run-dir "$tmp/g" --backend nope
expect 2 "a bad option" "unknown option" -- train --run-dir "$tmp/g" --nope
# Every option of every command takes --opt=V as well as --opt V (cli/cli.h).
expect 0 "--set=KEY=VALUE: train applies it as --set KEY=VALUE" "done at step 4" -- \
    "$gptc" train "$model" "--set=train.data.train=$tmp/data/t_train_*.bin" \
    "--set=train.data.val=$tmp/data/t_val_*.bin" --set=train.steps=4 --no-progress --threads=2 --run-dir="$tmp/eq"
grep -q '^step:4/4 val_loss:' "$tmp/eq/train.log" && pass "... a run of train.steps=4 in the run directory given as --run-dir=" ||
    fail "--set=train.steps=4: no step:4/4 line in $tmp/eq/train.log"

# gptc bench: whole steps timed on an executor, and its bad input.
expect 0 "gptc bench on ref prints ms/step and MFU" "MFU" -- "$gptc" bench "$model" --backend ref --steps 2 --warmup 1
expect 2 "gptc bench: an unknown backend" "unknown backend 'nope'" -- "$gptc" bench "$model" --backend nope
expect 2 "gptc bench: tokens off the block size" "not a multiple of the block size" -- \
    "$gptc" bench "$model" --backend ref --tokens 100
expect 2 "gptc bench: no model" "no model file given" -- "$gptc" bench
expect 0 "gptc bench --set=KEY=VALUE applies it" "128 tokens per step" -- \
    "$gptc" bench "$model" --backend=ref --steps=1 --warmup=0 --set=train.tokens_per_rank=128
# --profile: every plan step timed on its own (tests/train/check_profile.py
# checks that the report adds up); ref has no plan to profile.
if "$gptc" bench "$model" --backend sim --tokens 64 --steps 1 --warmup 0 --profile 2 --json "$tmp/prof.json" \
        > "$tmp/prof" 2>&1 && python3 tests/train/check_profile.py "$tmp/prof" "$tmp/prof.json" > "$tmp/prof.check" 2>&1; then
    pass "gptc bench --profile on sim: $(cat "$tmp/prof.check")"
else
    cat "$tmp/prof.check" >> "$tmp/prof" 2> /dev/null
    fail "gptc bench --profile on sim" "$(tail -n 15 "$tmp/prof")"
fi
expect 2 "gptc bench --profile on ref: no plan" "has no plan to profile" -- \
    "$gptc" bench "$model" --backend ref --steps 1 --warmup 0 --profile 1
expect 2 "gptc bench: a bad --profile" "--profile expects a whole number from 1 up, found 'x'" -- "$gptc" bench "$model" --profile x
# --db: chosen variants timed (attention on warpgroups at head_dim 64, on
# wgmma's twin); a database of another version, or ref, is refused.
version=$("$gptc" --version | sed -n 's/^gptc \([^ ]*\).*/\1/p')
wg=(--set model.dim=128 --set model.heads=2 --set model.head_dim=64)
printf 'gptc-tune 1\nvalidator gptc %s\nchoice attention - h2_d64 %s\n' "$version" \
    "threads=256 vec=8 tile=128 fwd_kn=128 dq_kn=64 dkdv_qn=32 minb=1 dq_src=2 stages=2 fwd_mma=2 dkdv_mma=2 dq_mma=2" \
    >"$tmp/wg.db"
expect 0 "gptc bench --db times the database's variants" "kernel variants as tuned in $tmp/wg.db" -- \
    "$gptc" bench models/tiny.yaml "${wg[@]}" --backend sim --tokens 64 --steps 1 --warmup 0 --db "$tmp/wg.db"
sed "s/^validator gptc .*/validator gptc 0.0.0-other/" "$tmp/wg.db" >"$tmp/old.db"
expect 2 "gptc bench --db of another gptc version" "tune again (gptc tune)" -- \
    "$gptc" bench models/tiny.yaml "${wg[@]}" --backend sim --steps 1 --db "$tmp/old.db"
expect 2 "gptc bench --db on ref" "the ref executor runs no generated kernels to tune" -- \
    "$gptc" bench models/tiny.yaml "${wg[@]}" --backend ref --steps 1 --db "$tmp/wg.db"

# Killed in the middle of checkpoint writes (the test waits for the
# temporary file to appear, then kills), with a checkpoint at every step and
# a model large enough that writing takes a while: the previous checkpoint
# always loads, and --resume carries on from it.
kills=0 broken=0
for attempt in $(seq 30); do
    [ "$kills" -ge 5 ] && break
    rm -rf "$tmp/k"
    # gptc itself in the background (not the train function, whose subshell
    # would be what gets killed)
    "$gptc" train "$model" "${sets[@]}" --no-progress --threads 2 --run-dir "$tmp/k" \
        --set train.val.interval=1 --set model.dim=96 > /dev/null 2>&1 &
    pid=$!
    while kill -0 "$pid" 2> /dev/null; do
        if [ -e "$tmp/k/ckpt.bin.tmp" ] && [ -e "$tmp/k/ckpt.bin" ]; then
            kill -9 "$pid" 2> /dev/null && kills=$((kills + 1))
            break
        fi
    done
    wait "$pid" 2> /dev/null
    [ -e "$tmp/k/ckpt.bin" ] && ! params "$tmp/k" "$tmp/k.st" && broken=$((broken + 1))
done
[ "$kills" -ge 3 ] && [ "$broken" -eq 0 ] \
    && pass "$kills runs killed mid-checkpoint: the previous checkpoint loaded every time" \
    || fail "killed mid-checkpoint: $kills kills, $broken broken checkpoints"
expect 0 "a run killed mid-checkpoint resumes" "done at step 20" -- \
    train --run-dir "$tmp/k" --resume --set train.val.interval=1 --set model.dim=96

finish
