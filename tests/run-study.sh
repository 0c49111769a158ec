#!/usr/bin/env bash
# run-study.sh GPTC: what a study of seeds and checkpoints needs, on
# tests/train/micro.yaml (ref, and sim for eval):
#   - gptc train --seed N is --set train.seed=N, bit for bit; another seed
#     gives other weights; a resume with another --seed is refused;
#     --data-seed N (train.data.seed) likewise, and its run resumes bit for
#     bit;
#   - every validation records the RMS of x at each layer's mix and of each
#     input table, and the lambdas corrected by them (shares of each layer's
#     mix that sum to 1 in magnitude); sim's agree with ref's;
#   - gptc eval CKPT on the run's own validation data at its step gives the
#     run's last val_loss to the bit (text and --json); on other shards, at
#     another step and on sim it runs; a batch that does not divide
#     --tokens, data too short and a bad checkpoint are errors (status 2);
#   - gptc sample continues a prompt: the same seed the same text, other
#     seeds other text, temperature 0 greedy whatever the seed; a missing
#     prompt, a bad temperature and a bad checkpoint are errors;
#   - gptc lens shows every view (each layer's input, the last output, each
#     input table, each value table) at every position, and the prediction
#     view's top token is what greedy sampling picks; trained on a repeated
#     sentence, its prediction view gives the sentence's next bytes;
#   - gptc sweep trains configurations times seeds: --dry-run makes nothing,
#     a failing configuration is reported and the others go on, sweep.json
#     lists them, a second sweep skips what finished and resumes what
#     stopped (bit for bit a straight run), --jobs 2 runs two at a time
#     (each as a run alone on one thread), ranks: N trains each run with N
#     ranks, --gpus N gives each run GPUs of its own (CUDA_VISIBLE_DEVICES,
#     seen in the runs' logs) and is refused with a CPU backend, with
#     --jobs or with fewer GPUs than a run's ranks, and bad sweep files are errors
#     at FILE:LINE:COLUMN.
. "$(dirname "$0")/lib.sh" study "$@"

head -c 200000 data/demo/corpus.txt > "$tmp/text.txt"
"$bin" data "$tmp/text.txt" -o "$tmp/data" --name t --paragraphs --val-fraction 0.1 > /dev/null 2>&1 ||
    fail "gptc data"
model=tests/train/micro.yaml
sets=(--set "train.data.train=$tmp/data/t_train_*.bin" --set "train.data.val=$tmp/data/t_val_*.bin")
train() { "$bin" train "$model" "${sets[@]}" --no-progress --threads 2 "$@"; }
params() { "$bin" export "$1/ckpt.bin" -o "$2" --fp32 > /dev/null 2>&1; }

expect 0 "--seed 7" "done at step 3" -- train --seed 7 --steps 3 --run-dir "$tmp/s7"
expect 0 "--set train.seed=7" "done at step 3" -- train --set train.seed=7 --steps 3 --run-dir "$tmp/set7"
expect 0 "the default seed" "done at step 3" -- train --steps 3 --run-dir "$tmp/s0"
params "$tmp/s7" "$tmp/s7.st" && params "$tmp/set7" "$tmp/set7.st" && cmp -s "$tmp/s7.st" "$tmp/set7.st" &&
    pass "--seed 7 and --set train.seed=7 give the same bits" || fail "--seed differs from --set train.seed"
params "$tmp/s0" "$tmp/s0.st" && ! cmp -s "$tmp/s7.st" "$tmp/s0.st" &&
    pass "another seed gives other weights" || fail "--seed 7 gave the default seed's weights"
expect 2 "a resume with another --seed is refused" "train.seed: 7 -> 8" -- \
    train --seed 8 --resume --run-dir "$tmp/s7"
expect 2 "--seed takes a whole number" "--seed" -- train --seed -1 --run-dir "$tmp/bad"

expect 0 "--data-seed 3" "done at step 3" -- train --data-seed 3 --steps 3 --run-dir "$tmp/d3"
expect 0 "--set train.data.seed=3" "done at step 3" -- train --set train.data.seed=3 --steps 3 --run-dir "$tmp/setd3"
params "$tmp/d3" "$tmp/d3.st" && params "$tmp/setd3" "$tmp/setd3.st" && cmp -s "$tmp/d3.st" "$tmp/setd3.st" &&
    pass "--data-seed 3 and --set train.data.seed=3 give the same bits" ||
    fail "--data-seed differs from --set train.data.seed"
! cmp -s "$tmp/d3.st" "$tmp/s0.st" && pass "a data seed gives other batches, so other weights" ||
    fail "--data-seed 3 gave the recipe's order's weights"
train --data-seed 3 --steps 2 --run-dir "$tmp/d3r" > /dev/null 2>&1 &&
    train --data-seed 3 --steps 3 --resume --run-dir "$tmp/d3r" > /dev/null 2>&1 && params "$tmp/d3r" "$tmp/d3r.st" &&
    cmp -s "$tmp/d3.st" "$tmp/d3r.st" && pass "a run with a data seed resumes bit for bit" ||
    fail "a run with a data seed resumed to other bits"
expect 2 "a resume with another --data-seed is refused" "train.data.seed: 3 -> 4" -- \
    train --data-seed 4 --resume --run-dir "$tmp/d3"

expect 0 "a run to evaluate" "done at step 10" -- train --steps 10 --set train.val.interval=5 --run-dir "$tmp/e"
want=$(python3 -c 'import json,sys; print([json.loads(l) for l in open(sys.argv[1]) if "\"val\"" in l][-1]["val_loss"])' \
    "$tmp/e/metrics.jsonl")
python3 - "$tmp/e/metrics.jsonl" "$model" > "$tmp/norms.out" 2>&1 <<'EOF' &&
import json, sys
vals = [json.loads(l) for l in open(sys.argv[1]) if '"val"' in l]
for v in vals:
    n, c = v["norms"], v["norm_corrected"]
    assert len(n["x"]) == 4 and all(x > 0 for x in n["x"]), n
    assert abs(n["x00"] - 1) < 1e-3 and abs(n["x01"] - 1) < 1e-3, n  # normed tables
    assert sorted(c) == ["lambda_x", "lambda_x00", "lambda_x01"], c
    for i in range(4):
        share = sum(abs(c[k][i]) for k in c)
        assert abs(share - 1) < 1e-9, (i, share)
        lam = v["scalars"]["lambda_x"][i] * n["x"][i]
        assert (lam > 0) == (c["lambda_x"][i] > 0), i
EOF
    pass "every validation records the norms and the norm-corrected lambdas" ||
    fail "the norms in metrics.jsonl" "$(cat "$tmp/norms.out")"
# sim reads the same norms from its device buffers (bf16): at step 0,
# from the same weights, within bf16's rounding of ref's.
expect 0 "a sim run to compare norms with" "done at step 2" -- train --backend sim --steps 2 --run-dir "$tmp/ns"
expect 0 "... and a ref run" "done at step 2" -- train --backend ref --steps 2 --run-dir "$tmp/nr"
python3 - "$tmp/ns/metrics.jsonl" "$tmp/nr/metrics.jsonl" > "$tmp/ns.out" 2>&1 <<'EOF' &&
import json, sys
first = lambda p: [json.loads(l) for l in open(p) if '"val"' in l][0]["norms"]
s, r = first(sys.argv[1]), first(sys.argv[2])
for a, b in zip(s["x"] + [s["x00"], s["x01"]], r["x"] + [r["x00"], r["x01"]]):
    assert abs(a - b) <= 1e-2 * b, (s, r)
EOF
    pass "sim's norms are ref's within bf16's rounding" || fail "sim's norms" "$(cat "$tmp/ns.out")"
expect 0 "gptc eval on the run's validation data" "at step 10" -- \
    "$bin" eval "$tmp/e/ckpt.bin" --backend ref --json "$tmp/e.json"
got=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["val_loss"])' "$tmp/e.json" 2> /dev/null)
[ -n "$want" ] && [ "$got" = "$want" ] && pass "... gives the run's last val_loss to the bit ($got)" ||
    fail "gptc eval gave $got, the run's last val_loss is $want"
expect 0 "gptc eval on other shards, at step 0" "at step 0 (windows" -- \
    "$bin" eval "$tmp/e/ckpt.bin" --backend ref --data "$tmp/data/t_train_*.bin" --step 0
expect 0 "gptc eval on sim" "(sim)" -- "$bin" eval "$tmp/e/ckpt.bin" --backend sim
expect 2 "--tokens that the batch does not divide" "is not a multiple of the batch" -- \
    "$bin" eval "$tmp/e/ckpt.bin" --backend ref --tokens 100
expect 2 "data too short for --tokens" "batches of" -- \
    "$bin" eval "$tmp/e/ckpt.bin" --backend ref --tokens 100000000
printf 'not a checkpoint' > "$tmp/bad.bin"
expect 2 "a bad checkpoint" "bad.bin" -- "$bin" eval "$tmp/bad.bin" --backend ref

sample() { "$bin" sample "$tmp/e/ckpt.bin" --prompt "The cat" --tokens 40 "$@"; }
expect 0 "gptc sample" "The cat" -- sample --seed 3
cp "$tmp/out" "$tmp/s3a"
sample --seed 3 > "$tmp/s3b" 2>&1 && cmp -s "$tmp/s3a" "$tmp/s3b" && pass "the same seed gives the same text" ||
    fail "the same seed gave other text" "$(cat "$tmp/s3a" "$tmp/s3b")"
same=0
for s in 4 5 6; do sample --seed $s 2>&1 | cmp -s - "$tmp/s3a" && same=$((same + 1)); done
[ $same -lt 3 ] && pass "other seeds give other text" || fail "three other seeds all gave seed 3's text"
sample --temperature 0 --seed 1 > "$tmp/g1" 2>&1 && sample --temperature 0 --seed 2 > "$tmp/g2" 2>&1 &&
    cmp -s "$tmp/g1" "$tmp/g2" && pass "--temperature 0 is greedy: no seed changes it" || fail "greedy sampling varied"
expect 2 "--prompt is required" "--prompt is required" -- "$bin" sample "$tmp/e/ckpt.bin"
expect 2 "a bad --temperature" "--temperature" -- sample --temperature hot
expect 2 "sample: a bad checkpoint" "bad.bin" -- "$bin" sample "$tmp/bad.bin" --prompt x

expect 0 "gptc lens" "x at the input of layer 0" -- \
    "$bin" lens "$tmp/e/ckpt.bin" --text "The cat" --top 3 --json "$tmp/lens.json"
"$bin" sample "$tmp/e/ckpt.bin" --prompt "The cat" --temperature 0 --tokens 1 > "$tmp/next" 2>&1
python3 - "$tmp/lens.json" "$tmp/next" > "$tmp/lens.out" 2>&1 <<'EOF' &&
import json, sys
views = json.load(open(sys.argv[1]))["views"]
names = [v["view"] for v in views]
# micro.yaml: 4 layers (their inputs and the last output), 2 input tables, 2 value tables
assert names[:5] == ["x at the input of layer %d" % i for i in range(4)] + [
    "x at the output of layer 3 (the model's prediction)"], names
assert names[5:] == ["input table x00 (after its norm)", "input table x01 (after its norm)",
                     "value-embedding table 0", "value-embedding table 1"], names
for v in views:
    assert len(v["positions"]) == 8 and all(len(p) == 3 for p in v["positions"]), v["view"]
    for p in v["positions"]:
        assert p[0]["p"] >= p[1]["p"] >= p[2]["p"] and 0 < sum(q["p"] for q in p) <= 1.0001
greedy = open(sys.argv[2]).read()[len("The cat"):len("The cat") + 1]
assert views[4]["positions"][-1][0]["text"] == greedy, (views[4]["positions"][-1][0], greedy)
EOF
    pass "lens: every view at every position; the prediction view's top token is greedy sampling's" ||
    fail "lens" "$(cat "$tmp/lens.out")"
expect 2 "lens: --text is required" "--text is required" -- "$bin" lens "$tmp/e/ckpt.bin"
# A model trained on one sentence, repeated, predicts its next bytes
# through the lens's prediction view.
python3 -c "open('$tmp/rep.txt', 'w').write(('the quick brown fox jumps over the lazy dog. ' * 20 + '\n\n') * 150)"
"$bin" data "$tmp/rep.txt" -o "$tmp/rep" --name r --val-fraction 0 --paragraphs > /dev/null 2>&1 || fail "gptc data of the repeated text"
expect 0 "300 steps on a repeated sentence" "done at step 300" -- \
    "$bin" train "$model" --backend ref --no-progress --run-dir "$tmp/rep/run" --set train.steps=300 \
    --set "train.data.train=$tmp/rep/r_train_*.bin" --set "train.data.val=$tmp/rep/r_train_*.bin"
"$bin" lens "$tmp/rep/run/ckpt.bin" --text "the quick brown fox jumps over the lazy dog. the quick brown" --top 1 \
    --json "$tmp/rep.json" > /dev/null 2>&1
python3 - "$tmp/rep.json" > "$tmp/rep.out" 2>&1 <<'EOF' && pass "its lens predicts the sentence's next bytes" || fail "the lens of the repeated sentence" "$(cat "$tmp/rep.out")"
import json, sys
views = json.load(open(sys.argv[1]))["views"]
pred = "".join(p[0]["text"] for p in views[4]["positions"])
text = "the quick brown fox jumps over the lazy dog. the quick brown"
hits = sum(a == b for a, b in zip(pred, text))
print(f"{hits} of {len(text)}: {pred!r}")
assert hits >= len(text) - 3, (hits, pred)
EOF

# A sweep: two configurations (one whose data is missing) times two seeds.
data=("train.data.train: \"$tmp/data/t_train_*.bin\"" "train.data.val: \"$tmp/data/t_val_*.bin\"")
cat > "$tmp/sweep.yaml" <<EOF
dir: sw
backend: ref
seeds: [0, 1]
runs:
  - name: base
    model: $PWD/$model
    set: {train.steps: 4, ${data[0]}, ${data[1]}}
  - name: nodata
    model: $PWD/$model
    set: {train.data.train: "$tmp/none/*.bin"}
EOF
expect 0 "gptc sweep --dry-run" "sw/nodata-s1: would start" -- "$bin" sweep "$tmp/sweep.yaml" --dry-run
[ ! -e "$tmp/sw" ] && pass "... and makes nothing" || fail "--dry-run made $tmp/sw"
sed -e 's|^dir: sw|dir: ./sub/../sw|' "$tmp/sweep.yaml" > "$tmp/tidy.yaml"
expect 0 "a sweep's paths without ./ and NAME/.." "$tmp/sw/base-s0: would start" -- "$bin" sweep "$tmp/tidy.yaml" --dry-run
expect 1 "a sweep with a failing configuration" "2 of 4 runs failed" -- "$bin" sweep "$tmp/sweep.yaml"
grep -q "sw/nodata-s0: gptc train exited with status 2" "$tmp/out" && [ -s "$tmp/sw/base-s1/ckpt.bin" ] &&
    pass "a failed run is reported and the others go on" || fail "the sweep's runs" "$(cat "$tmp/out")"
python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))["runs"]; assert [(x["name"],x["seed"],x["status"]) for x in r] == [("base",0,"done"),("base",1,"done"),("nodata",0,"FAILED"),("nodata",1,"FAILED")], r; assert r[0]["val_loss"] > 0' \
    "$tmp/sw/sweep.json" 2> "$tmp/sj.out" && pass "sweep.json lists every run" || fail "sweep.json" "$(cat "$tmp/sj.out")"
expect 1 "the sweep again" "finished (step 4 of 4), skipped" -- "$bin" sweep "$tmp/sweep.yaml"
# A run stopped part way is resumed, and ends as a straight run does.
sed -e 's/seeds: \[0, 1\]/seeds: [2]/' -e '/- name: nodata/,$d' "$tmp/sweep.yaml" > "$tmp/sweep2.yaml"
"$bin" train "$model" --run-dir "$tmp/sw/base-s2" --seed 2 --backend ref --no-progress --steps 2 "${sets[@]}" \
    --set train.steps=4 > /dev/null 2>&1
expect 0 "a sweep resumes a run stopped part way" "sw/base-s2: resuming" -- "$bin" sweep "$tmp/sweep2.yaml"
# (with the sweep's threads: all of them, as gptc train's default)
expect 0 "the same run straight" "done at step 4" -- \
    "$bin" train "$model" "${sets[@]}" --no-progress --seed 2 --set train.steps=4 --run-dir "$tmp/straight"
params "$tmp/sw/base-s2" "$tmp/b2.st" && params "$tmp/straight" "$tmp/st.st" && cmp -s "$tmp/b2.st" "$tmp/st.st" &&
    pass "... bit for bit" || fail "the resumed sweep run differs from a straight one"
# --jobs 2: two runs at once, a core each; each as a run on one thread.
sed -e 's/seeds: \[0, 1\]/seeds: [5, 6]/' -e 's/^dir: sw/dir: sw3/' -e '/- name: nodata/,$d' "$tmp/sweep.yaml" > "$tmp/sweep3.yaml"
expect 0 "gptc sweep --jobs 2" "0 of 2 runs failed" -- "$bin" sweep "$tmp/sweep3.yaml" --jobs 2
"$bin" train "$model" "${sets[@]}" --no-progress --seed 6 --set train.steps=4 --threads 1 --run-dir "$tmp/one6" \
    > /dev/null 2>&1
params "$tmp/sw3/base-s6" "$tmp/j6.st" && params "$tmp/one6" "$tmp/o6.st" && cmp -s "$tmp/j6.st" "$tmp/o6.st" &&
    pass "... each run as it is alone on one thread" || fail "a --jobs 2 run differs from one on one thread"
# ranks: every run as gptc train --ranks N.
sed -e 's/seeds: \[0, 1\]/seeds: [7]/' -e 's/^dir: sw/dir: sw4\nranks: 2/' -e '/- name: nodata/,$d' \
    -e 's/set: {train.steps: 4,/set: {train.steps: 4, train.ranks: 2,/' "$tmp/sweep.yaml" > "$tmp/sweep4.yaml"
expect 0 "a sweep with ranks: 2" "0 of 1 runs failed" -- "$bin" sweep "$tmp/sweep4.yaml"
grep -q '"ranks": 2,' "$tmp/sw4/base-s7/metrics.jsonl" && grep -q -- "--ranks 2" "$tmp/sw4/base-s7/metrics.jsonl" &&
    pass "... trains each run with 2 ranks" || fail "the ranks: 2 run" "$(head -c 600 "$tmp/sw4/base-s7/metrics.jsonl")"
# --gpus: one run per GPU slot, each seeing only its own GPUs.
expect 2 "--gpus with a CPU backend" "the sweep's backend is 'ref'" -- "$bin" sweep "$tmp/sweep3.yaml" --gpus 2
expect 2 "--gpus with --jobs" "does not go with --jobs" -- "$bin" sweep "$tmp/sweep3.yaml" --gpus 2 --jobs 2
sed -e 's/^backend: ref/backend: auto/' -e 's/^dir: sw3/dir: sw5/' "$tmp/sweep3.yaml" > "$tmp/sweep5.yaml"
sed -e 's/^backend: ref/backend: cuda/' "$tmp/sweep4.yaml" > "$tmp/sweep6.yaml"
expect 2 "--gpus fewer than a run's ranks" "--gpus 1 holds no run of 2 ranks" -- \
    "$bin" sweep "$tmp/sweep6.yaml" --gpus 1
"$bin" sweep "$tmp/sweep5.yaml" --gpus 2 > "$tmp/out" 2>&1
grep -q "CUDA_VISIBLE_DEVICES=0$" "$tmp/sw5/logs/base-s5.log" && grep -q "CUDA_VISIBLE_DEVICES=1$" "$tmp/sw5/logs/base-s6.log" &&
    pass "--gpus 2 gives each run a GPU of its own" ||
    fail "--gpus 2's runs" "$(cat "$tmp/out" "$tmp/sw5/logs/"*.log | head -20)"
printf 'seeds: [0]\nruns:\n  - name: a\n    model: m.yaml\n    colour: red\n' > "$tmp/bad1.yaml"
expect 2 "an unknown key in a sweep" "bad1.yaml:5:5: error: unknown key 'colour' in a run" -- "$bin" sweep "$tmp/bad1.yaml"
printf 'runs:\n  - {name: a, model: m.yaml}\n  - {name: a, model: m.yaml}\n' > "$tmp/bad2.yaml"
expect 2 "a sweep without seeds, with a name twice" "a second run named 'a'" -- "$bin" sweep "$tmp/bad2.yaml"
grep -q "'seeds' is a list of whole numbers" "$tmp/out" && pass "... both said" || fail "missing seeds not said" "$(cat "$tmp/out")"
finish

