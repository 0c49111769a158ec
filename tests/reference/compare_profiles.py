"""
compare_profiles.py: gptc's and PyTorch's step side by side, by the classes
both profiles use (gptc bench --profile --json, bench_gpu.py --profile
--out): ms per forward+backward pass, the rate against the GPU's peaks
(TFLOP/s for GEMMs and attention, from each side's own count of useful
FLOPs; GB/s for the memory-bound classes, from the bytes gptc's plan moves:
PyTorch's own bytes are not known, so its GB/s, marked *, is the same work
over its time, what it would have to move if it fused as gptc does), and
gptc / torch per class.

Usage: python3 tests/reference/compare_profiles.py GPTC_BENCH.json TORCH.json
       [--peak-tflops 989] [--peak-gbs 4800] [--names A B]

The optimizer, which neither profile covers, follows from each side's
timed steps (opt_ms, median_opt_ms), and with it the whole step. Above the
classes, the timed steps themselves: ms per step, tokens per second, MFU and
peak memory, where both files give them.

Two gptc profiles side by side work too (gpu-check's variant step: this
tree against another build): --names labels the columns, and each side's
GB/s is then from its own bytes.
"""
import argparse
import json
import sys


def rate(entry, peak_tflops, peak_gbs, bytes_of=None):
    """entry's rate: its FLOPs' TFLOP/s, else GB/s of the bytes of bytes_of
    (its own entry, or gptc's for PyTorch: then marked *), else "-"."""
    ms = entry.get("ms", 0)
    if ms <= 0:
        return "-"
    if entry.get("flops"):
        t = entry["flops"] / (ms * 1e9)
        return "%.3g TFLOP/s (%.2g%%)" % (t, 100 * t / peak_tflops)
    if bytes_of and bytes_of.get("bytes"):
        g = bytes_of["bytes"] / (ms * 1e6)
        return "%.3g GB/s%s (%.2g%%)" % (g, "" if bytes_of is entry else "*", 100 * g / peak_gbs)
    return "-"

def load(path, maker):
    """A result file's object and its "profile" object, or exit naming the
    file."""
    try:
        with open(path) as f:
            result = json.load(f)
        prof = result.get("profile")
    except (OSError, ValueError, AttributeError) as e:
        sys.exit("compare_profiles: %s: %s" % (path, e))
    if not isinstance(prof, dict):
        sys.exit("compare_profiles: %s has no \"profile\" (make it with %s)" % (path, maker))
    return result, prof


def number(result, *keys):
    """The first of keys that result holds as a number (gptc's and PyTorch's
    names for one figure), or None."""
    for k in keys:
        v = result.get(k)
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            return v
    return None


def row(name, a, a_rate, b, b_rate, ratio):
    """One line of the table: a name, each side's figure and rate, and the
    ratio of the two."""
    print("%-26s %10s %-22s %10s %-22s %8s" % (name, a, a_rate, b, b_rate, ratio))


def ratio(x, y):
    return "%.2f" % (x / y) if x and y else "-"


def print_steps(gr, tr, na, nb):
    """The timed steps side by side: ms per step, tokens per second, MFU and
    peak memory, where both results give them."""
    rows = (("ms/step", ("ms_per_step", "mean_step_ms"), 1, "%.2f"),
            ("tokens/s", ("tokens_per_s",), 1, "%.0f"),
            ("MFU %", ("mfu",), 100, "%.1f"),
            ("peak memory GiB", ("peak_bytes", "peak_memory_bytes"), 2 ** -30, "%.2f"))
    header = False
    for name, keys, scale, fmt in rows:
        x, y = number(gr, *keys), number(tr, *keys)
        if x is None or y is None:
            continue
        if not header:
            row("timed steps", na[:10], "", nb[:10], "", na + "/" + nb)
            header = True
        row(name, fmt % (x * scale), "", fmt % (y * scale), "", ratio(x, y))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("gptc")
    ap.add_argument("torch")
    ap.add_argument("--peak-tflops", type=float, default=989.0, help="dense bf16 (H100 SXM and H200: 989)")
    ap.add_argument("--peak-gbs", type=float, default=4800.0, help="HBM bandwidth (H200 4800, H100 SXM 3350)")
    ap.add_argument("--names", nargs=2, metavar=("A", "B"), help="the columns' names (both gptc profiles)")
    a = ap.parse_args()
    na, nb = a.names or ("gptc", "torch")
    (gr, g), (tr, t) = load(a.gptc, "gptc bench --profile N --json"), load(a.torch, "bench_gpu.py --profile N --out")
    print_steps(gr, tr, na, nb)
    gopt, topt = number(gr, "opt_ms", "median_opt_ms"), number(tr, "opt_ms", "median_opt_ms")
    row("class", na[:7] + " ms", na[:16] + " rate", nb[:7] + " ms", nb[:16] + " rate", na + "/" + nb)
    tg = tt = 0.0
    for c in t:
        ge, te = g.get(c, {}), t[c]
        gm, tm = ge.get("ms", 0.0), te.get("ms", 0.0)
        tg, tt = tg + gm, tt + tm
        row(c, "%.3f" % gm, rate(ge, a.peak_tflops, a.peak_gbs, ge), "%.3f" % tm,
            rate(te, a.peak_tflops, a.peak_gbs, te if a.names else ge), ratio(gm, tm))
    row("forward+backward", "%.3f" % tg, "", "%.3f" % tt, "", ratio(tg, tt))
    # The optimizer is outside both profiles: each side's timed steps say
    # how long it took.
    if gopt is not None and topt is not None:
        row("optimizer (timed steps)", "%.3f" % gopt, "", "%.3f" % topt, "", ratio(gopt, topt))
        row("step", "%.3f" % (tg + gopt), "", "%.3f" % (tt + topt), "", ratio(tg + gopt, tt + topt))


if __name__ == "__main__":
    main()
