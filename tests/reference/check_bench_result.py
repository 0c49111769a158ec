"""
check_bench_result.py: validates what bench_gpu.py printed, for
tests/run-torchref.sh.

Usage: check_bench_result.py STDOUT_FILE OUT_JSON CHECK_JSON TOKENS STEPS
  STDOUT_FILE  bench_gpu.py's stdout (CHECK_GPU line, then BENCH_GPU line last)
  OUT_JSON     the file its --out wrote
  CHECK_JSON   `gptc check MODEL --json` of the same model
Prints one line per problem and exits 1 if there is any.
"""
import json
import math
import sys


def main(stdout_file, out_file, check_file, tokens, steps):
    problems = []
    lines = open(stdout_file).read().splitlines()
    bench = [l for l in lines if l.startswith("BENCH_GPU ")]
    check = [l for l in lines if l.startswith("CHECK_GPU ")]
    if not lines or not lines[-1].startswith("BENCH_GPU "):
        return ["the last stdout line is not 'BENCH_GPU {...}'"]
    if len(bench) != 1 or len(check) != 1:
        return ["expected one BENCH_GPU and one CHECK_GPU line, got %d and %d" % (len(bench), len(check))]
    r = json.loads(bench[0][len("BENCH_GPU "):])
    c = json.loads(check[0][len("CHECK_GPU "):])
    with open(out_file) as f:
        if json.load(f) != r:
            problems.append("--out holds another object than the BENCH_GPU line")
    with open(check_file) as f:
        flops = json.load(f)["flops_per_token"]

    def positive(key):
        v = r.get(key)
        if not isinstance(v, (int, float)) or not math.isfinite(v) or v <= 0:
            problems.append("%s is %r, not a positive number" % (key, v))
    for key in ("mean_step_ms", "median_step_ms", "tokens_per_s", "mfu"):
        positive(key)
    if r.get("tokens_per_step") != tokens or r.get("steps") != steps:
        problems.append("tokens_per_step %r, steps %r; asked for %d, %d"
                        % (r.get("tokens_per_step"), r.get("steps"), tokens, steps))
    if len(r.get("step_ms", [])) != steps or not all(x > 0 for x in r.get("step_ms", [0])):
        problems.append("step_ms %r: not %d positive times" % (r.get("step_ms"), steps))
    if r.get("flops_per_token") != flops:
        problems.append("flops_per_token %r is not gptc check's %r" % (r.get("flops_per_token"), flops))
    if r.get("attention") not in ("flex", "sdpa", "math"):
        problems.append("attention %r is none of flex, sdpa, math" % r.get("attention"))
    tps = tokens / (r["mean_step_ms"] / 1e3) if r.get("mean_step_ms") else 0
    # tokens_per_s is written to 0.1: on a slow CPU (tens of tokens/s) that
    # rounding alone is above the relative tolerance.
    if not math.isclose(r.get("tokens_per_s", 0), tps, rel_tol=1e-3, abs_tol=0.05):
        problems.append("tokens_per_s %r disagrees with mean_step_ms (%.1f)" % (r.get("tokens_per_s"), tps))
    mfu = flops["total"] * tps / (r.get("peak_tflops", 0) * 1e12) if r.get("peak_tflops") else -1
    if not math.isclose(r.get("mfu", 0), mfu, rel_tol=1e-2, abs_tol=1e-4):
        problems.append("mfu %r disagrees with the FLOPs and the step time (%.4g)" % (r.get("mfu"), mfu))
    for key in ("first_loss", "last_loss"):
        v = r.get(key)
        if not isinstance(v, float) or not math.isfinite(v) or v <= 0:
            problems.append("%s is %r" % (key, v))
    if not c.get("passed") or c.get("failures"):
        problems.append("the check against gptc_ref failed: %s" % c.get("failures"))
    tol = c.get("tolerances", {})
    for name, entry in c.items():
        if not name.startswith("step_"):
            continue
        for key, t in (("loss_rel_err", "loss"), ("logits_rel_err", "logits"), ("grad_rel_err", "grad")):
            if not entry.get(key, 1.0) <= tol.get(t, 0.0):
                problems.append("check %s: %s %r over %r" % (name, key, entry.get(key), tol.get(t)))
        if entry.get("bad_tiles") != 0:
            problems.append("check %s: bad_tiles %r" % (name, entry.get("bad_tiles")))
    if len([k for k in c if k.startswith("step_")]) < 2:
        problems.append("the check covers fewer than two window settings")
    if r.get("check") != c:
        problems.append("the result's check object is not the CHECK_GPU line")
    return problems


if __name__ == "__main__":
    if len(sys.argv) != 6:
        sys.exit(__doc__)
    found = main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]))
    for p in found:
        print(p)
    sys.exit(1 if found else 0)
