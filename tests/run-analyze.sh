#!/usr/bin/env bash
# run-analyze.sh GPTC: gptc analyze (scripts/analyze.py).
#   - planted series: a configuration shifted by exactly 0.1 at every step,
#     one whose differences are pure noise of mean 0, and one whose final
#     differences are 1..5 (a paired t test of known answer: t = 4.243 on 4
#     degrees of freedom, p = 0.0132, 95% CI 3 +- 1.963) come out right;
#   - on real tiny runs (a sweep of two seeds, ref), the report's lambdas
#     are the runs' last ones and, over training, the runs' at each
#     validation, averaged, and the figures are PNG files;
#   - a directory that is neither a run nor a sweep, a damaged
#     metrics.jsonl and an unknown baseline are errors (status 2).
. "$(dirname "$0")/lib.sh" analyze "$@"

if ! /usr/bin/python3 -c 'import matplotlib' 2> /dev/null && ! python3 -c 'import matplotlib' 2> /dev/null; then
    missing "no matplotlib, so no gptc analyze figures" "scripts/setup.sh --test installs python3-matplotlib"
    finish
fi

python3 - "$tmp/planted" <<'EOF' || fail "planting the series"
import json, os, sys
root = sys.argv[1]
runs = []
noise = [0.03, -0.02, 0.01, -0.04, 0.02]
for name, shift in (("A", None), ("B", "shift"), ("N", "noise"), ("C", "ramp")):
    for seed in range(5):
        d = os.path.join(root, f"{name}-s{seed}")
        os.makedirs(d)
        with open(os.path.join(d, "metrics.jsonl"), "w") as f:
            f.write(json.dumps({"kind": "run", "spec": {"train.seed": seed}}) + "\n")
            for step in range(0, 101, 10):
                base = 3.0 - step / 100 + 0.01 * seed
                extra = {"shift": 0.1, "noise": noise[seed], "ramp": (seed + 1) if step == 100 else 0}.get(shift, 0)
                if step:
                    f.write(json.dumps({"kind": "train", "step": step, "loss": base + 0.2}) + "\n")
                f.write(json.dumps({"kind": "val", "step": step, "val_loss": base + extra, "train_time_ms": 10.0 * step,
                                    "scalars": {"layers": 2, "lambda_x": [1.0, 0.5 + seed], "lambda_x00": [0.1, 0.2]}})
                        + "\n")
        runs.append({"name": name, "seed": seed, "dir": f"{name}-s{seed}", "status": "done", "val_loss": None})
json.dump({"runs": runs}, open(os.path.join(root, "sweep.json"), "w"))
EOF
expect 0 "gptc analyze on planted series" "20 runs, 4 configurations" -- \
    "$bin" analyze "$tmp/planted" -o "$tmp/prep" --baseline A --target 2.5
python3 - "$tmp/prep" > "$tmp/check.out" 2>&1 <<'EOF' && pass "planted series: shift, noise and a known t test come out right" || fail "planted series" "$(cat "$tmp/check.out")"
import csv, math, sys
rows = {(r["config"], r["what"]): r for r in csv.DictReader(open(sys.argv[1] + "/paired.csv"))}
close = lambda a, b, tol=1e-9: abs(float(a) - b) < tol
b = rows[("B", "final val_loss")]
assert close(b["mean_diff"], 0.1) and close(b["ci95_low"], 0.1) and close(b["ci95_high"], 0.1) and float(b["p"]) == 0, b
assert close(rows[("B", "whole curve")]["mean_diff"], 0.1), rows[("B", "whole curve")]
n = rows[("N", "final val_loss")]
assert close(n["mean_diff"], 0, 1e-12) and close(n["p"], 1, 1e-9), n
assert close(float(n["ci95_low"]), -float(n["ci95_high"]), 1e-12), n
assert n["pairs_lower"] == "2" and rows[("B", "final val_loss")]["pairs_lower"] == "0", n
# the train losses are the same in every configuration: no difference
assert close(rows[("B", "mean train loss")]["mean_diff"], 0, 1e-12), rows[("B", "mean train loss")]
c = rows[("C", "final val_loss")]
assert close(c["mean_diff"], 3) and abs(float(c["p"]) - 0.013236) < 2e-5, c
assert abs(float(c["ci95_low"]) - (3 - 1.96324)) < 1e-4 and abs(float(c["ci95_high"]) - (3 + 1.96324)) < 1e-4, c
# whole curve of C: only the last of 11 steps differs, by 1..5: mean 3/11
assert close(rows[("C", "whole curve")]["mean_diff"], 3 / 11), rows[("C", "whole curve")]
stats = {r["config"]: r for r in csv.DictReader(open(sys.argv[1] + "/stats.csv"))}
a = stats["A"]
assert close(a["final_mean"], 2.0 + 0.02) and close(a["final_min"], 2.0) and close(a["final_max"], 2.04), a
assert close(a["final_sd"], 0.01 * math.sqrt(2.5)), a
# 3 - step/100 + 0.01 seed <= 2.5 first at step 50 (seed 0), 60 (seeds 1-4)
assert close(a["steps_to_target_mean"], 58) and a["steps_to_target_min"] == "50" and a["reached_target"] == "5", a
lam = [r for r in csv.DictReader(open(sys.argv[1] + "/lambdas.csv")) if r["config"] == "A"]
assert [(r["component"], r["layer"], float(r["mean_over_seeds"])) for r in lam] == [
    ("lambda_x", "0", 1.0), ("lambda_x", "1", 2.5), ("lambda_x00", "0", 0.1), ("lambda_x00", "1", 0.2)], lam
EOF
for f in val_loss_step val_loss_time lambdas; do
    head -c 4 "$tmp/prep/$f.png" 2> /dev/null | grep -q PNG && [ -s "$tmp/prep/$f.csv" ] ||
        { fail "the figure and CSV $f"; continue; }
    pass "the figure $f.png and its series $f.csv"
done
grep -q '^| B | final val_loss | 5 | 0.1000 | \[0.1000, 0.1000\] | 0.000 | 0 of 5 |$' "$tmp/prep/report.md" &&
    pass "report.md holds the paired table" || fail "report.md" "$(cat "$tmp/prep/report.md")"

# Real runs: a sweep of two seeds of micro.yaml on ref.
head -c 200000 data/demo/corpus.txt > "$tmp/text.txt"
"$bin" data "$tmp/text.txt" -o "$tmp/data" --name t --paragraphs --val-fraction 0.1 > /dev/null 2>&1 || fail "gptc data"
cat > "$tmp/sweep.yaml" <<EOF
dir: sw
backend: ref
seeds: [0, 1]
runs:
  - name: micro
    model: $PWD/tests/train/micro.yaml
    set: {train.steps: 5, train.data.train: "$tmp/data/t_train_*.bin", train.data.val: "$tmp/data/t_val_*.bin"}
EOF
expect 0 "a sweep to analyze" "0 of 2 runs failed" -- "$bin" sweep "$tmp/sweep.yaml"
expect 0 "gptc analyze on the sweep" "2 runs, 1 configurations" -- "$bin" analyze "$tmp/sw" -o "$tmp/rep"
python3 - "$tmp/sw" "$tmp/rep" > "$tmp/lam.out" 2>&1 <<'EOF' && pass "the report's lambdas (at the end and over training) are the runs', averaged" || fail "lambdas" "$(cat "$tmp/lam.out")"
import csv, json, sys
last = [[json.loads(l) for l in open(f"{sys.argv[1]}/micro-s{s}/metrics.jsonl") if '"val"' in l][-1] for s in (0, 1)]
rows = list(csv.DictReader(open(sys.argv[2] + "/lambdas.csv")))
assert rows, "no lambdas"
for r in rows:
    want = sum(v["scalars"][r["component"]][int(r["layer"])] for v in last) / 2
    assert abs(float(r["mean_over_seeds"]) - want) < 1e-12, (r, want)
norms = list(csv.DictReader(open(sys.argv[2] + "/norms.csv")))
assert len(norms) == 4 and all(float(r["mean_over_seeds"]) > 0 for r in norms), norms
vals = [{v["step"]: v for v in map(json.loads, open(f"{sys.argv[1]}/micro-s{s}/metrics.jsonl")) if v.get("kind") == "val"}
        for s in (0, 1)]
over = list(csv.DictReader(open(sys.argv[2] + "/lambdas_over_training.csv")))
assert {int(r["step"]) for r in over} == set(vals[0]) & set(vals[1]), over[:3]
for r in over:
    want = sum(v[int(r["step"])]["scalars"][r["component"]][int(r["layer"])] for v in vals) / 2
    assert abs(float(r["mean_over_seeds"]) - want) < 1e-12, (r, want)
EOF
head -c 4 "$tmp/rep/lambdas_over_training_micro.png" 2> /dev/null | grep -q PNG &&
    pass "a figure of the lambdas over training per configuration" || fail "lambdas_over_training_micro.png"
expect 2 "a directory that is neither a run nor a sweep" "neither a sweep" -- "$bin" analyze "$tmp/data" -o "$tmp/x"
mkdir -p "$tmp/broken" && printf '{"kind": "val", "step": 0, "val_loss": 1}\n{"kind": \n' > "$tmp/broken/metrics.jsonl"
expect 2 "a damaged metrics.jsonl is an error at its line" "broken/metrics.jsonl:2: not a JSON record" -- \
    "$bin" analyze "$tmp/broken" -o "$tmp/x" --no-plots
expect 2 "an unknown baseline" "--baseline nosuch: no such configuration" -- \
    "$bin" analyze "$tmp/sw" -o "$tmp/x" --baseline nosuch --no-plots
finish
