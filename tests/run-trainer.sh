#!/usr/bin/env bash
# run-trainer.sh GPTC: the generated trainer (make train-NAME,
# runtime/train/trainer_main.c): the model build that gptc compile writes as C
# data, linked with the runtime, trains that model with gptc train's
# options and no model file.
#   - 5 steps of tiny-x02 give bit-identical parameters from the generated
#     trainer and from gptc train (which makes the same build in memory),
#     on ref and on sim (the trainer's sim kernels are linked in, gptc
#     train's built at run time with the same flags);
#   - two ranks of the generated trainer (it starts copies of itself), and
#     two under mpirun (it finds the MPI plugin beside it), give the bits
#     of one process;
#   - it refuses a checkpoint of another model (the resume's comparison;
#     with --accept-changes, the parameter layout), a model file argument,
#     a --set outside train.*, and one of train.* that changes its kernels
#     (the token count per rank sizes the reductions' grids); other
#     train.* keys are taken.
. "$(dirname "$0")/lib.sh" trainer "$@"

if make --no-print-directory train-tiny-x02 > "$tmp/make.out" 2>&1; then
    pass "make train-tiny-x02 builds the trainer"
else
    fail "make train-tiny-x02" "$(tail -n 15 "$tmp/make.out")"
    finish
fi
trainer=$PWD/build/trainers/tiny-x02/train
head -c 300000 data/demo/corpus.txt > "$tmp/text.txt"
"$bin" data "$tmp/text.txt" -o "$tmp/data" --name t --paragraphs --val-fraction 0.1 > /dev/null 2>&1 ||
    fail "gptc data"
# Validation on 512 tokens (a setting that keeps the trainer's kernels).
common=(--set "train.data.train=$tmp/data/t_train_*.bin" --set "train.data.val=$tmp/data/t_val_*.bin"
        --set train.val.tokens=512 --set train.val.tokens_per_rank=512 --set train.steps=5 --no-progress)
params() { "$bin" export "$1/ckpt.bin" -o "$2" --fp32 > /dev/null 2>&1; }

# Each pair side by side, one run per core: on sim, these two runs are most
# of this suite's time.
for be in ref sim; do
    "$trainer" --backend "$be" --run-dir "$tmp/g-$be" "${common[@]}" > "$tmp/g-$be.out" 2>&1 &
    gen=$!
    expect 0 "gptc train: 5 steps on $be" "done at step 5" -- \
        "$bin" train models/tiny-x02.yaml --backend "$be" --run-dir "$tmp/t-$be" "${common[@]}"
    wait $gen
    judge 0 "the generated trainer: the same 5 steps on $be" "done at step 5" $? "$tmp/g-$be.out"
    if params "$tmp/g-$be" "$tmp/g-$be.st" && params "$tmp/t-$be" "$tmp/t-$be.st" &&
        cmp -s "$tmp/g-$be.st" "$tmp/t-$be.st"; then
        pass "$be: the generated trainer and gptc train give bit-identical parameters"
    else
        fail "$be: the generated trainer's parameters differ from gptc train's"
    fi
done

# One thread per process on both sides (run-ranks.sh says why).
two=(--set train.ranks=2 --set train.val.tokens=2048)
expect 0 "the generated trainer on 2 ranks" "done at step 5" -- \
    "$trainer" --run-dir "$tmp/g2" "${common[@]}" "${two[@]}" --ranks 2 --threads 2
expect 0 "the generated trainer on 1 rank, 2 slices" "done at step 5" -- \
    "$trainer" --run-dir "$tmp/g1" "${common[@]}" "${two[@]}" --threads 1
params "$tmp/g2" "$tmp/g2.st" && params "$tmp/g1" "$tmp/g1.st" && cmp -s "$tmp/g1.st" "$tmp/g2.st" &&
    pass "2 ranks of the generated trainer give the bits of 1 process" || fail "2 ranks differ from 1"

# Under an external launcher the trainer finds the MPI plugin make linked
# beside it (run-ranks.sh checks gptc itself the same way).
if ! command -v mpirun > /dev/null || [ ! -e "$(dirname "$trainer")/libgptc_mpi.so" ]; then
    missing "no MPI, so no mpirun of the generated trainer" "install Open MPI with scripts/setup.sh"
else
    root=()
    [ "$(id -u)" -eq 0 ] && root=(--allow-run-as-root)
    if mpirun -np 2 --oversubscribe --mca plm isolated "${root[@]}" "$trainer" --run-dir "$tmp/gm" \
        "${common[@]}" "${two[@]}" --threads 1 > "$tmp/gm.out" 2>&1 && params "$tmp/gm" "$tmp/gm.st" &&
        cmp -s "$tmp/g1.st" "$tmp/gm.st"; then
        pass "the generated trainer under mpirun -np 2 gives the bits of 1 process"
    else
        fail "the generated trainer under mpirun -np 2" "$(tail -n 15 "$tmp/gm.out")"
    fi
fi

expect 0 "a run of tiny.yaml to resume" "done at step 2" -- \
    "$bin" train models/tiny.yaml --run-dir "$tmp/tiny" "${common[@]}" --steps 2
expect 2 "the trainer refuses to resume a run of another model" "input_embeddings.tables: 1 -> 3" -- \
    "$trainer" --run-dir "$tmp/tiny" --resume "${common[@]}"
expect 2 "... and with --accept-changes, its checkpoint" "this checkpoint is of another model" -- \
    "$trainer" --run-dir "$tmp/tiny" --resume --accept-changes "${common[@]}"
expect 2 "a --set outside train.* is refused" "changes the model: compile it again" -- \
    "$trainer" --set model.mlp_hidden=256 "${common[@]}"
expect 2 "a --set of train.* that sizes the kernels is refused" "changes the kernels this trainer carries" -- \
    "$trainer" --set train.tokens_per_rank=256 "${common[@]}"
expect 2 "a model file is refused" "this trainer carries its model" -- "$trainer" models/tiny.yaml
expect 0 "--help names the model" "The trainer gptc generated for tiny-x02.yaml" -- "$trainer" --help
finish
