#!/usr/bin/env bash
# run-train.sh GPTC: end-to-end tests of `gptc data`, `gptc train` and
# `gptc export` on tests/train/micro.yaml (two ranks, several shards).
#   - a run writes train.log, metrics.jsonl and a checkpoint, and learns;
#   - 20 steps straight and 10 + --resume + 10 give bit-identical parameters;
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

# Misuse and bad input: clear errors, status 2, nothing lost.
expect 2 "a second run into a used directory is refused" "already holds a run" -- \
    train --run-dir "$tmp/a"
expect 2 "--resume with no checkpoint" "holds no checkpoint" -- train --run-dir "$tmp/none" --resume
expect 2 "a checkpoint of another model" "another model" -- \
    train --run-dir "$tmp/a" --resume --set model.dim=64
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

# gptc bench: whole steps timed on an executor, and its bad input.
expect 0 "gptc bench on ref prints ms/step and MFU" "MFU" -- "$gptc" bench "$model" --backend ref --steps 2 --warmup 1
expect 2 "gptc bench: an unknown backend" "unknown backend 'nope'" -- "$gptc" bench "$model" --backend nope
expect 2 "gptc bench: tokens off the block size" "not a multiple of the block size" -- \
    "$gptc" bench "$model" --backend ref --tokens 100
expect 2 "gptc bench: no model" "no model given" -- "$gptc" bench
# --profile: every plan step timed on its own (tests/train/check_profile.py
# checks that the report adds up); ref has no plan to profile.
if "$gptc" bench "$model" --backend sim --tokens 64 --steps 1 --warmup 0 --profile 2 > "$tmp/prof" 2>&1 &&
    python3 tests/train/check_profile.py "$tmp/prof" > "$tmp/prof.check" 2>&1; then
    pass "gptc bench --profile on sim: $(cat "$tmp/prof.check")"
else
    cat "$tmp/prof.check" >> "$tmp/prof" 2> /dev/null
    fail "gptc bench --profile on sim" "$(tail -n 15 "$tmp/prof")"
fi
expect 2 "gptc bench --profile on ref: no plan" "has no plan to profile" -- \
    "$gptc" bench "$model" --backend ref --steps 1 --warmup 0 --profile 1
expect 2 "gptc bench: a bad --profile" "--profile: 'x'" -- "$gptc" bench "$model" --profile x

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
