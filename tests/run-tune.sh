#!/usr/bin/env bash
# run-tune.sh GPTC: gptc tune, and the tuning database as compile and train
# read it (compiler/tune/, cli/cmd_tune.c), on sim's cost model:
#   - gptc tune --prune-only lists attention's variants with pruning's
#     verdicts; gptc tune prunes, gates and times tiny.yaml's RMS-norm
#     variants on sim's cost model and writes a database headed by its
#     validators; a second run picks the same choices; the same tuning timed
#     by sim's clock (every launch timed alone, the whole-step A/B) writes
#     the host's validators and each variant's time, six rounds cut the
#     slow variants after five, and a budget that runs out leaves every rule
#     untimed; every GEMM shape's algorithms (sim's
#     split-K sums), the optimizer's Newton-Schulz products included, gated
#     on their own outputs over the operands the step gives them and timed; without a GPU, on ref, and with
#     --cost-model off sim, tuning is refused; a database of another device
#     is not overwritten, --only that matches nothing fails;
#   - gptc compile --db applies the choices and says where they come from,
#     and with --report each variant's speed-up;
#   - gptc train --db on sim with an order-neutral choice (relu2 at other
#     threads and vector width) gives the rules' parameters bit for bit,
#     the checkpoint keeps the choices, and a resume without them is
#     refused; a database timed on sim holds for a sim run here, and a GEMM's
#     algorithm from it is what the run uses (its bits move), a Newton-Schulz
#     product's what the optimizer uses, one
#     the device lacks is an error naming the GEMM, and compile --db writes
#     it into the generated build; 4 ranks run rank 0's choices (rank 0
#     alone reads the database; its error stops every rank, said once) and
#     give 1 process's bits; --db is refused on ref, for another device and for another
#     gptc version, and a damaged database is an error at its line.
. "$(dirname "$0")/lib.sh" tune "$@"

db=$tmp/tiny.db
tune=("$bin" tune models/tiny.yaml --backend sim --cost-model --db "$db" --only rmsnorm --rounds 5)
expect 2 "tuning without a GPU is refused, with the ways to tune on sim" "time on sim's clock with --backend sim" -- \
    env GPTC_CUDA_LIB="$tmp/no-driver.so" "$bin" tune models/tiny.yaml
expect 2 "tuning on ref is refused" "the ref executor runs no generated kernels to tune" -- \
    "$bin" tune models/tiny.yaml --backend ref
expect 2 "--cost-model off sim is refused" "--cost-model is sim's: add --backend sim" -- \
    "$bin" tune models/tiny.yaml --cost-model
expect 0 "--prune-only lists attention's variants with pruning's verdict" "variants kept by static pruning (sm_90a)" -- \
    "$bin" tune models/tiny.yaml --prune-only --only attention
grep -q 'tile=128 fwd_kn=128 dq_kn=64 dkdv_qn=64 minb=1 dq_src=2 stages=2 fwd_mma=1 dkdv_mma=1 dq_mma=1 kept (reorders sums)' "$tmp/out" &&
    grep -q 'tile=64 fwd_kn=64 dq_kn=64 dkdv_qn=64 minb=2 dq_src=2 stages=2 fwd_mma=1 dkdv_mma=1 dq_mma=1 kept$' "$tmp/out" &&
    grep -q 'tile=64 fwd_kn=64 dq_kn=64 dkdv_qn=64 minb=1 dq_src=2 stages=3 fwd_mma=1 dkdv_mma=1 dq_mma=1 kept$' "$tmp/out" &&
    grep -q 'tile=64 fwd_kn=64 dq_kn=64 dkdv_qn=64 minb=1 dq_src=1 stages=2 fwd_mma=1 dkdv_mma=1 dq_mma=1 kept (reorders sums)' "$tmp/out" &&
    pass "... each variant on a line, marked when it reorders sums" || fail "--prune-only's list" "$(tail -n 5 "$tmp/out")"
expect 0 "gptc tune on sim's cost model writes the database" "gptc tune: wrote $db" -- "${tune[@]}"
grep -q '^validator device sim cost model$' "$db" && grep -q '^validator gptc ' "$db" &&
    grep -q '^candidate rmsnorm [0-9a-f]* d128 threads=64 vec=8 ok ' "$db" &&
    grep -q '^choice rmsnorm [0-9a-f]* d128 ' "$db" &&
    pass "the database holds its validators, every variant and a choice" || fail "the database" "$(cat "$db")"
grep '^choice' "$db" > "$tmp/choices1"
expect 0 "a second tuning run" "gptc tune: wrote $db" -- "${tune[@]}"
grep '^choice' "$db" | cmp -s - "$tmp/choices1" && pass "a second run makes the same choices" ||
    fail "a second run chose otherwise" "$(grep '^choice' "$db")"
# Timed by sim's clock: every launch of a step alone, then the A/B; the
# RMS norm's variants and every GEMM shape's algorithms (sim's split-K).
timed=(models/tiny.yaml --backend sim --rounds 1 --tokens 128 --set attention.window.schedule=constant)
expect 0 "gptc tune timed by sim's clock" "gptc tune: wrote $tmp/timed.db" -- \
    "$bin" tune "${timed[@]}" --only rmsnorm,gemm --db "$tmp/timed.db"
grep -q 'speed-up (measured)' "$tmp/out" && grep -q 'the whole step, A/B (median): ' "$tmp/out" &&
    pass "... reports measured speed-ups and the whole-step A/B" || fail "the timed report" "$(tail -n 8 "$tmp/out")"
grep -q '^validator device sim (host clock)$' "$tmp/timed.db" && grep -q '^validator cpu ' "$tmp/timed.db" &&
    [ "$(grep -c '^candidate rmsnorm [0-9a-f]* d128 threads=[0-9]* vec=8 ok [0-9.]*$' "$tmp/timed.db")" = 5 ] &&
    pass "... and writes the host's validators and every variant's time" || fail "the timed database" "$(cat "$tmp/timed.db")"
grep -q '^candidate gemm - m128_n512_k128_nn_hhh_b0 algo=default ok ' "$tmp/timed.db" &&
    grep -q '^candidate gemm - m128_n512_k128_nn_hhh_b0 algo=1\.0\.0\.2\.0\.0\.0\.0\.0 ok ' "$tmp/timed.db" &&
    grep -q '^choice gemm - m128_n512_k128_nn_hhh_b0 algo=' "$tmp/timed.db" &&
    pass "... every GEMM shape's algorithms, each within tolerance of the default's output, timed, and a choice" ||
    fail "the GEMMs' database" "$(grep gemm "$tmp/timed.db" | head -n 8)"
# Muon's Newton-Schulz products (tiny's attention weights: four 128 x 128
# matrices a batch) are tuned too, gated on their own operands.
ns=m128_n128_k128_x4_nn_hhf_b0
grep -q "^candidate gemm - $ns algo=default ok " "$tmp/timed.db" &&
    grep -q "^candidate gemm - $ns algo=1\.0\.0\.2\.0\.0\.0\.0\.0 ok " "$tmp/timed.db" &&
    grep -q "^candidate gemm - m128_n128_k128_x4_nt_hhh_b0 algo=1\.0\.0\.4\.0\.0\.0\.0\.0 ok " "$tmp/timed.db" &&
    pass "... and the optimizer's Newton-Schulz products, gated and timed" ||
    fail "the Newton-Schulz GEMMs' database" "$(grep _x4_ "$tmp/timed.db")"
! grep -q '^candidate gemm .* wrong' "$tmp/timed.db" &&
    pass "... every GEMM gated on the operands its step gives it (none wrong)" ||
    fail "a GEMM algorithm of sim's judged wrong" "$(grep '^candidate gemm .* wrong' "$tmp/timed.db")"
# Six rounds: after five, the variants more than 1.25 times slower than the
# fastest are timed no more ("slow", with their time so far); the rule
# always goes on.
expect 0 "gptc tune of six rounds, the slow variants cut after five" "wrong slow  chosen" -- \
    "$bin" tune models/tiny.yaml --backend sim --rounds 6 --tokens 64 --set attention.window.schedule=constant \
    --only rmsnorm --db "$tmp/cut.db"
[ "$(grep -c '^candidate rmsnorm [0-9a-f]* d128 threads=[0-9]* vec=8 \(ok\|slow\) [0-9.]*$' "$tmp/cut.db")" = 5 ] &&
    grep -q '^candidate rmsnorm [0-9a-f]* d128 threads=256 vec=8 ok ' "$tmp/cut.db" &&
    pass "... every variant timed or cut, with its time; the rule timed to the end" ||
    fail "the six rounds' database" "$(cat "$tmp/cut.db")"
expect 0 "a budget that runs out before the first round" "the budget ran out after 0 of 1 rounds" -- \
    "$bin" tune "${timed[@]}" --only rmsnorm --budget 0.001 --db "$tmp/budget.db"
! grep -q '^candidate rmsnorm .* ok' "$tmp/budget.db" && grep -q '^candidate rmsnorm .* untimed$' "$tmp/budget.db" &&
    grep -q '^choice rmsnorm [0-9a-f]* d128 threads=256 vec=8$' "$tmp/budget.db" &&
    pass "... leaves every variant untimed and the rule chosen" || fail "the budget's database" "$(cat "$tmp/budget.db")"
expect 0 "gptc compile --report --db: each GEMM shape's algorithm and speed-up" "gemm             m128_n512_k128_nn_hhh_b0" -- \
    "$bin" compile models/tiny.yaml --db "$tmp/timed.db" --report --no-compile -o "$tmp/gen-gemm-report"
expect 2 "--tokens that is not a multiple of the window block" "--tokens 100: a multiple of the window block" -- \
    "$bin" tune models/tiny.yaml --backend sim --tokens 100 --db "$tmp/none.db"
expect 2 "--only that matches no kernel" "no kernel to tune in --only" -- \
    "$bin" tune models/tiny.yaml --backend sim --cost-model --db "$tmp/none.db" --only nosuch
sed 's/^validator device .*/validator device NVIDIA H200/' "$db" > "$tmp/h200.db"
cp "$tmp/h200.db" "$tmp/h200.keep"
expect 1 "a database of another device is not overwritten" "was tuned for device NVIDIA H200" -- \
    "$bin" tune models/tiny.yaml --backend sim --cost-model --db "$tmp/h200.db" --only rmsnorm --rounds 1
cmp -s "$tmp/h200.db" "$tmp/h200.keep" && pass "... and is left as it was" || fail "the other device's database changed"

expect 0 "gptc compile --db" "kernel variants as tuned in $db (on sim cost model)" -- \
    "$bin" compile models/tiny.yaml --db "$db" --no-compile -o "$tmp/gen"
expect 0 "gptc compile --db --report: each variant's speed-up" "x (sim cost model)" -- \
    "$bin" compile models/tiny.yaml --db "$db" --report --no-compile -o "$tmp/gen"

# An order-neutral choice that differs from the rule, written by hand.
version=$(sed -n 's/^validator gptc //p' "$db")
printf 'gptc-tune 1\nvalidator gptc %s\nvalidator device sim cost model\nchoice relu2 - m512 threads=1024 vec=4\n' \
    "$version" > "$tmp/relu2.db"
head -c 300000 data/demo/corpus.txt > "$tmp/text.txt"
"$bin" data "$tmp/text.txt" -o "$tmp/data" --name t --paragraphs --val-fraction 0.1 > /dev/null 2>&1 || fail "gptc data"
common=(models/tiny.yaml --backend sim --set "train.data.train=$tmp/data/t_train_*.bin"
        --set "train.data.val=$tmp/data/t_val_*.bin" --set train.val.tokens=1024 --set train.steps=3 --no-progress)
params() { "$bin" export "$1/ckpt.bin" -o "$2" --fp32 > /dev/null 2>&1; }
"$bin" train "${common[@]}" --steps 2 --run-dir "$tmp/rules" > "$tmp/rules.out" 2>&1 &
rules=$!
expect 0 "gptc train --db on sim" "done at step 2" -- \
    "$bin" train "${common[@]}" --steps 2 --db "$tmp/relu2.db" --run-dir "$tmp/tuned"
wait $rules
judge 0 "gptc train on sim under the rules" "done at step 2" $? "$tmp/rules.out"
params "$tmp/rules" "$tmp/rules.st" && params "$tmp/tuned" "$tmp/tuned.st" && cmp -s "$tmp/rules.st" "$tmp/tuned.st" &&
    pass "an order-neutral choice gives the rules' parameters bit for bit" || fail "the tuned run's parameters differ"
# The database timed on sim, with a GEMM's algorithm added as gptc tune
# writes it: sim's split-K in 2 for the head's weight gradient at tiny's 512
# tokens (the recipe's zero projections keep the other weights' gradients
# at zero for two steps; the timed choices are order-neutral or at 128).
gemm=m320_n128_k512_tn_hhf_b0
{ cat "$tmp/timed.db"; echo "choice gemm - $gemm algo=1.0.0.2.0.0.0.0.0"; } > "$tmp/gemm.db"
expect 0 "a database timed on sim holds for a sim run here, with a GEMM's algorithm" "done at step 2" -- \
    "$bin" train "${common[@]}" --steps 2 --db "$tmp/gemm.db" --run-dir "$tmp/gemm"
params "$tmp/gemm" "$tmp/gemm.st" && ! cmp -s "$tmp/rules.st" "$tmp/gemm.st" &&
    pass "... which the run uses: its sum in two parts moves the parameters' last bits" ||
    fail "the GEMM's algorithm left the rules' parameters"
printf 'gptc-tune 1\nvalidator gptc %s\nvalidator device sim cost model\nchoice gemm - %s algo=7.0.0.2.0.0.0.0.0\n' \
    "$version" "$gemm" > "$tmp/gemm7.db"
sed "s/^choice gemm - $ns algo=.*/choice gemm - $ns algo=1.0.0.2.0.0.0.0.0/" "$tmp/timed.db" > "$tmp/ns.db"
expect 0 "a Newton-Schulz product's algorithm from the database" "done at step 2" -- \
    "$bin" train "${common[@]}" --steps 2 --db "$tmp/ns.db" --run-dir "$tmp/ns"
grep -q "^choice gemm - $ns algo=1\.0\.0\.2\." "$tmp/ns.db" && params "$tmp/ns" "$tmp/ns.st" && ! cmp -s "$tmp/rules.st" "$tmp/ns.st" && ! cmp -s "$tmp/gemm.st" "$tmp/ns.st" &&
    pass "... is what the optimizer runs: the parameters' last bits move" ||
    fail "the Newton-Schulz product's algorithm left the rules' parameters"
expect 2 "an algorithm the device does not have is an error naming the GEMM" "GEMM $gemm: no algorithm 7" -- \
    "$bin" train "${common[@]}" --steps 1 --db "$tmp/gemm7.db" --run-dir "$tmp/gemm7"
[ ! -e "$tmp/gemm7" ] && pass "... and leaves no run directory" || fail "a refused GEMM algorithm left a run directory"
expect 0 "gptc compile --db with a GEMM's algorithm" "gptc compile: wrote" -- \
    "$bin" compile models/tiny.yaml --db "$tmp/gemm.db" --no-compile -o "$tmp/gen-gemm"
grep -q "\.ngemm = " "$tmp/gen-gemm/build.c" && grep -q "\.shape = \"$gemm\"" "$tmp/gen-gemm/build.c" &&
    pass "... writes it into the generated build" || fail "the generated build lacks the GEMM's algorithm"
# Four ranks take rank 0's choices: rank 0 alone reads the database, here
# a pipe that gives its bytes once (a second reader would wait for ever:
# timeout ends it), and sends them; each rank checks them on its own
# device. They give one process's bits.
four=(models/tiny.yaml --backend sim --set "train.data.train=$tmp/data/t_train_*.bin"
      --set "train.data.val=$tmp/data/t_val_*.bin" --set train.ranks=4 --set train.tokens_per_rank=128
      --set attention.window.max_tokens=128 --set train.val.tokens=512 --set train.val.tokens_per_rank=128
      --set train.steps=1 --no-progress --threads 1)
mkfifo "$tmp/relu2.pipe"
cat "$tmp/relu2.db" > "$tmp/relu2.pipe" &
writer=$!
expect 0 "gptc train --db on sim, 4 ranks, the database read once" "done at step 1" -- \
    timeout 300 "$bin" train "${four[@]}" --db "$tmp/relu2.pipe" --ranks 4 --run-dir "$tmp/four"
kill $writer 2>/dev/null
expect 2 "... whose checkpoint holds rank 0's choices: a resume without them is refused" 'kernel tuning: "' -- \
    "$bin" train "${four[@]}" --resume --run-dir "$tmp/four"
printf 'gptc-tune 1\nchoice relu2 - m512 threads=1024\n' > "$tmp/bad4.db"
expect 2 "4 ranks: rank 0's damaged database stops every rank" "rank 0: --db: $tmp/bad4.db:2: expected: choice FAMILY" -- \
    timeout 300 "$bin" train "${four[@]}" --db "$tmp/bad4.db" --ranks 4 --run-dir "$tmp/bad4"
[ ! -e "$tmp/bad4" ] && [ "$(grep -c -- '--db:' "$tmp/out")" = 1 ] &&
    pass "... said once, and no run directory" || fail "a damaged database on 4 ranks" "$(cat "$tmp/out")"
four+=(--db "$tmp/relu2.db")
expect 0 "the 4 ranks' run in one process" "done at step 1" -- "$bin" train "${four[@]}" --run-dir "$tmp/one"
params "$tmp/four" "$tmp/four.st" && params "$tmp/one" "$tmp/one.st" && cmp -s "$tmp/four.st" "$tmp/one.st" &&
    pass "4 ranks under the database's choices give one process's bits" || fail "4 ranks differ from 1"
expect 2 "a resume without the run's choices is refused" 'kernel tuning: "' -- \
    "$bin" train "${common[@]}" --resume --run-dir "$tmp/tuned"
expect 2 "--db on ref is refused" "the ref executor runs no generated kernels" -- \
    "$bin" train models/tiny.yaml --backend ref --db "$tmp/relu2.db" --run-dir "$tmp/ref"
expect 2 "--db of another device is refused" "was tuned for device NVIDIA H200; here it is sim (host clock)" -- \
    "$bin" train "${common[@]}" --db "$tmp/h200.db" --run-dir "$tmp/h200"
sed "s/^validator gptc .*/validator gptc 0.0.0-other/" "$tmp/relu2.db" > "$tmp/old.db"
expect 2 "--db of another gptc is refused" "was tuned for gptc 0.0.0-other" -- \
    "$bin" train "${common[@]}" --db "$tmp/old.db" --run-dir "$tmp/old"
printf 'gptc-tune 1\nchoice relu2 - m512 threads=1024\n' > "$tmp/bad.db"
expect 2 "a damaged database is an error at its line" "bad.db:2: expected: choice FAMILY" -- \
    "$bin" compile models/tiny.yaml --db "$tmp/bad.db" --no-compile -o "$tmp/gen2"
printf 'gptc-tune 1\nvalidator gptc %s\nvalidator device sim cost model\nchoice relu2 - m512 threads=96 vec=8\n' \
    "$version" > "$tmp/outside.db"
expect 2 "a choice outside the variant space is refused" "threads=96 vec=8 is not one of its" -- \
    "$bin" train "${common[@]}" --db "$tmp/outside.db" --run-dir "$tmp/outside"
[ ! -e "$tmp/outside" ] && [ ! -e "$tmp/h200" ] && pass "a refused --db leaves no run directory" ||
    fail "a refused --db left a run directory"
finish
