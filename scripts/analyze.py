#!/usr/bin/env python3
"""analyze.py: the report of `gptc analyze` (gptc runs this script; see
`gptc analyze --help`): from run or sweep directories, the statistics of
each configuration over its seeds, paired differences against a baseline,
CSV files of every plotted series, PNG figures (matplotlib) and a Markdown
report that shows them.

Runs are grouped by configuration: a sweep directory (gptc sweep's
sweep.json) names each run's configuration and seed; a run directory is a
configuration of its own name, its seed read from its run record. The
numbers come from each run's metrics.jsonl: validation losses by step and
training time, the train loss of every step, the lambdas, and on ref the
norms and norm-corrected lambdas of the last validation.

Statistics (Python's standard library only; the t distribution's tails by
the regularized incomplete beta function):
  per configuration, over seeds: mean, standard deviation (n - 1) and range
  of the final validation loss, of the mean train loss over the run, and of
  the steps and training time to reach --target;
  paired against the baseline, same seed: the difference of the final
  validation loss and of the whole curve (each seed's mean difference over
  the validation steps both runs have), each with a 95% confidence interval
  and the two-sided p-value of a paired t test.
"""
import argparse
import csv
import json
import math
import os
import statistics
import sys


def die(message, status=2):
    """Bad input is status 2, as every gptc command has it; a missing
    dependency 1."""
    print(message, file=sys.stderr)
    sys.exit(status)


def load_jsonl(path):
    out = []
    with open(path) as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError as e:
                die(f"gptc analyze: {path}:{lineno}: not a JSON record ({e.msg})")
    return out


def read_run(path):
    recs = load_jsonl(os.path.join(path, "metrics.jsonl"))
    vals = [r for r in recs if r.get("kind") == "val"]
    trains = [r for r in recs if r.get("kind") == "train"]
    runs = [r for r in recs if r.get("kind") == "run"]
    if not vals:
        die(f"gptc analyze: {path}/metrics.jsonl has no validation")
    spec = runs[-1]["spec"] if runs else {}
    return {"dir": path, "vals": vals, "train": [t["loss"] for t in trains], "spec": spec}


def collect(dirs):
    """[(config, seed, run)] from sweep and run directories."""
    out = []
    for d in dirs:
        sweep = os.path.join(d, "sweep.json")
        if os.path.exists(sweep):
            for r in json.load(open(sweep))["runs"]:
                path = os.path.join(d, r["dir"])
                if os.path.exists(os.path.join(path, "metrics.jsonl")):
                    out.append((r["name"], r["seed"], read_run(path)))
        elif os.path.exists(os.path.join(d, "metrics.jsonl")):
            run = read_run(d)
            out.append((os.path.basename(os.path.normpath(d)), run["spec"].get("train.seed", 0), run))
        else:
            die(f"gptc analyze: {d}: neither a sweep (sweep.json) nor a run (metrics.jsonl)")
    if not out:
        die("gptc analyze: no runs with a validation")
    return out


# ---- statistics ----

def betacf(a, b, x):
    """The continued fraction of the incomplete beta function (Lentz)."""
    tiny = 1e-300
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1)
    d = 1 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 300):
        m2 = 2 * m
        for num in (m * (b - m) * x / ((a + m2 - 1) * (a + m2)), -(a + m) * (a + b + m) * x / ((a + m2) * (a + m2 + 1))):
            d = 1 + num * d
            d = 1 / (d if abs(d) > tiny else tiny)
            c = 1 + num / c
            c = c if abs(c) > tiny else tiny
            h *= d * c
        if abs(d * c - 1) < 1e-15:
            break
    return h


def betainc(a, b, x):
    """The regularized incomplete beta function I_x(a, b)."""
    if x <= 0:
        return 0.0
    if x >= 1:
        return 1.0
    ln = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log(1 - x)
    if x < (a + 1) / (a + b + 2):
        return math.exp(ln) * betacf(a, b, x) / a
    return 1 - math.exp(ln) * betacf(b, a, 1 - x) / b


def t_two_sided_p(t, df):
    return betainc(df / 2, 0.5, df / (df + t * t))


def t_quantile(p, df):
    """The t value with two-sided tail probability 1 - p (bisection)."""
    lo, hi = 0.0, 1e3
    for _ in range(200):
        mid = (lo + hi) / 2
        if t_two_sided_p(mid, df) > 1 - p:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def paired(diffs):
    """Mean, 95% confidence interval and two-sided p of a paired t test."""
    n = len(diffs)
    mean = statistics.fmean(diffs)
    if n < 2:
        return mean, float("nan"), float("nan"), float("nan")
    sd = statistics.stdev(diffs)
    if sd == 0:
        return mean, mean, mean, 0.0 if mean != 0 else 1.0
    se = sd / math.sqrt(n)
    q = t_quantile(0.95, n - 1)
    return mean, mean - q * se, mean + q * se, t_two_sided_p(mean / se, n - 1)


def summary(xs):
    xs = [x for x in xs if x is not None]
    if not xs:
        return {"mean": None, "sd": None, "min": None, "max": None, "n": 0}
    return {"mean": statistics.fmean(xs), "sd": statistics.stdev(xs) if len(xs) > 1 else 0.0,
            "min": min(xs), "max": max(xs), "n": len(xs)}


def to_target(run, target):
    for v in run["vals"]:
        if v["val_loss"] <= target:
            return v["step"], v["train_time_ms"] / 1000
    return None, None


# ---- the report ----

def fmt(x, digits=4):
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}f}"


def write_csv(path, header, rows):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)


def curves(groups, key):
    """Per configuration: [(x, mean, min, max)] over the x values all seeds share."""
    out = {}
    for name, runs in groups.items():
        series = [{v["step"]: (v[key] if key != "step" else v["step"], v["val_loss"]) for v in r["vals"]} for _, r in runs]
        steps = sorted(set.intersection(*(set(s) for s in series)))
        out[name] = [(statistics.fmean(s[st][0] for s in series), statistics.fmean(s[st][1] for s in series),
                      min(s[st][1] for s in series), max(s[st][1] for s in series)) for st in steps]
    return out


def last_layers(run, field):
    v = run["vals"][-1]
    return v.get(field) or {}


def layer_means(groups, field, names):
    """Per configuration and component: the mean over seeds, per layer."""
    out = {}
    for name, runs in groups.items():
        comps = {}
        for comp in names(runs[0][1]):
            rows = [last_layers(r, field).get(comp) for _, r in runs]
            if all(isinstance(x, list) for x in rows):
                comps[comp] = [statistics.fmean(col) for col in zip(*rows)]
        out[name] = comps
    return out


def lambdas_over_training(groups):
    """Per configuration: {component: {layer: [(step, mean over seeds)]}} at
    the validation steps every seed has."""
    out = {}
    for name, runs in groups.items():
        per_seed = [{v["step"]: v.get("scalars") or {} for v in r["vals"]} for _, r in runs]
        steps = sorted(set.intersection(*(set(p) for p in per_seed)))
        comps = {}
        for comp in [k for k in last_layers(runs[0][1], "scalars") if k.startswith("lambda_")]:
            layers = len(last_layers(runs[0][1], "scalars")[comp])
            series = {i: [] for i in range(layers)}
            for st in steps:
                rows = [p[st].get(comp) for p in per_seed]
                if all(isinstance(x, list) and len(x) == layers for x in rows):
                    for i in range(layers):
                        series[i].append((st, statistics.fmean(x[i] for x in rows)))
            comps[comp] = series
        out[name] = comps
    return out


def plot(out_dir, groups, args, report):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        die("gptc analyze: the figures need matplotlib (Debian's python3-matplotlib); --no-plots writes the rest", 1)
    figs = []

    def curve_fig(name, key, xlabel, window):
        fig, ax = plt.subplots(figsize=(7, 4.5))
        for conf, pts in curves(groups, key).items():
            pts = [p for p in pts if window is None or window[0] <= p[0] <= window[1]]
            if not pts:
                continue
            xs = [p[0] for p in pts]
            ax.plot(xs, [p[1] for p in pts], label=f"{conf} (n={len(groups[conf])})")
            ax.fill_between(xs, [p[2] for p in pts], [p[3] for p in pts], alpha=0.2)
        ax.set_xlabel(xlabel)
        ax.set_ylabel("validation loss (mean over seeds, min-max band)")
        ax.grid(alpha=0.3)
        ax.legend()
        fig.tight_layout()
        fig.savefig(os.path.join(out_dir, name), dpi=110)
        plt.close(fig)
        figs.append(name)

    curve_fig("val_loss_step.png", "step", "step", None)
    curve_fig("val_loss_time.png", "train_time_ms", "training time (ms)", None)
    if args.steps:
        curve_fig("val_loss_step_zoom.png", "step", "step", args.steps)
    if args.time:
        curve_fig("val_loss_time_zoom.png", "train_time_ms", "training time (ms)", [t * 1000 for t in args.time])
    for field, title, fname in (("scalars", "lambdas at the end of training", "lambdas.png"),
                                ("norm_corrected", "norm-corrected lambdas (share of each layer's mix)",
                                 "norm_corrected.png")):
        means = layer_means(groups, field, lambda r: [k for k in last_layers(r, field) if k.startswith("lambda_")])
        if not any(means.values()):
            continue
        confs = [c for c in means if means[c]]
        fig, axes = plt.subplots(1, len(confs), figsize=(3.2 * len(confs) + 1, 3.8), sharey=True, squeeze=False)
        for ax, conf in zip(axes[0], confs):
            for comp, ys in means[conf].items():
                ax.plot(range(len(ys)), ys, marker="o", label=comp)
            ax.set_title(conf, fontsize=9)
            ax.set_xlabel("layer")
            ax.xaxis.get_major_locator().set_params(integer=True)
            ax.grid(alpha=0.3)
            ax.legend(fontsize=7)
        fig.suptitle(title + " (mean over seeds)", fontsize=10)
        fig.tight_layout()
        fig.savefig(os.path.join(out_dir, fname), dpi=110)
        plt.close(fig)
        figs.append(fname)
    for conf, comps in lambdas_over_training(groups).items():
        if not comps:
            continue
        fig, axes = plt.subplots(1, len(comps), figsize=(3.2 * len(comps) + 1, 3.6), squeeze=False)
        for ax, (comp, layers) in zip(axes[0], comps.items()):
            for i, pts in layers.items():
                ax.plot([p[0] for p in pts], [p[1] for p in pts], label=f"layer {i}")
            ax.set_title(comp, fontsize=9)
            ax.set_xlabel("step")
            ax.grid(alpha=0.3)
        axes[0][0].legend(fontsize=7)
        fig.suptitle(f"{conf}: lambdas over training (mean over {len(groups[conf])} seeds)", fontsize=10)
        fig.tight_layout()
        fname = f"lambdas_over_training_{conf}.png"
        fig.savefig(os.path.join(out_dir, fname), dpi=110)
        plt.close(fig)
        figs.append(fname)
    norms = layer_means(groups, "norms", lambda r: ["x"])
    if any(norms.values()):
        fig, ax = plt.subplots(figsize=(7, 4.5))
        for conf, comps in norms.items():
            if "x" in comps:
                ax.plot(range(len(comps["x"])), comps["x"], marker="o", label=conf)
        ax.set_xlabel("layer")
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.set_ylabel("RMS of x at the layer's mix (mean over seeds)")
        ax.grid(alpha=0.3)
        ax.legend()
        fig.tight_layout()
        fig.savefig(os.path.join(out_dir, "norms.png"), dpi=110)
        plt.close(fig)
        figs.append("norms.png")
    report.append("\n## Figures\n")
    report.extend(f"![{f}]({f})\n" for f in figs)


def analyze(args):
    runs = collect(args.dirs)
    groups = {}
    for name, seed, run in runs:
        groups.setdefault(name, []).append((seed, run))
    base = args.baseline or next(iter(groups))
    if base not in groups:
        die(f"gptc analyze: --baseline {base}: no such configuration (have: {', '.join(groups)})")
    os.makedirs(args.out, exist_ok=True)
    stats_rows, paired_rows = [], []
    for name, rs in groups.items():
        final = summary([r["vals"][-1]["val_loss"] for _, r in rs])
        mean_train = summary([statistics.fmean(r["train"]) if r["train"] else None for _, r in rs])
        tt = [to_target(r, args.target) if args.target is not None else (None, None) for _, r in rs]
        steps, secs = summary([t[0] for t in tt]), summary([t[1] for t in tt])
        stats_rows.append([name, final["n"], final["mean"], final["sd"], final["min"], final["max"], mean_train["mean"],
                           mean_train["sd"], mean_train["min"], mean_train["max"], steps["mean"], steps["sd"],
                           steps["min"], steps["max"], steps["n"], secs["mean"], secs["sd"]])
        if name == base:
            continue
        by_seed = dict(groups[base])
        pairs = [(r, by_seed[s]) for s, r in rs if s in by_seed]
        if not pairs:
            continue
        d_final = [r["vals"][-1]["val_loss"] - b["vals"][-1]["val_loss"] for r, b in pairs]
        d_curve = []
        for r, b in pairs:
            bv = {v["step"]: v["val_loss"] for v in b["vals"]}
            common = [v for v in r["vals"] if v["step"] in bv]
            d_curve.append(statistics.fmean(v["val_loss"] - bv[v["step"]] for v in common))
        d_train = [statistics.fmean(r["train"]) - statistics.fmean(b["train"]) for r, b in pairs if r["train"] and b["train"]]
        for what, d in (("final val_loss", d_final), ("whole curve", d_curve), ("mean train loss", d_train)):
            if not d:
                continue
            mean, lo, hi, p = paired(d)
            paired_rows.append([name, base, what, len(d), mean, lo, hi, p, sum(x < 0 for x in d)])
    write_csv(os.path.join(args.out, "stats.csv"),
              ["config", "seeds", "final_mean", "final_sd", "final_min", "final_max", "train_mean", "train_sd",
               "train_min", "train_max", "steps_to_target_mean", "steps_to_target_sd", "steps_to_target_min",
               "steps_to_target_max", "reached_target", "seconds_to_target_mean", "seconds_to_target_sd"], stats_rows)
    write_csv(os.path.join(args.out, "paired.csv"),
              ["config", "baseline", "what", "pairs", "mean_diff", "ci95_low", "ci95_high", "p", "pairs_lower"],
              paired_rows)
    for key, fname in (("step", "val_loss_step.csv"), ("train_time_ms", "val_loss_time.csv")):
        write_csv(os.path.join(args.out, fname), ["config", key, "mean", "min", "max"],
                  [[c] + list(p) for c, pts in curves(groups, key).items() for p in pts])
    for field, fname in (("scalars", "lambdas.csv"), ("norm_corrected", "norm_corrected.csv"), ("norms", "norms.csv")):
        pick = (lambda r, f=field: [k for k in last_layers(r, f) if k.startswith("lambda_")]) if field != "norms" \
            else (lambda r: ["x"])
        write_csv(os.path.join(args.out, fname), ["config", "component", "layer", "mean_over_seeds"],
                  [[c, comp, i, y] for c, comps in layer_means(groups, field, pick).items()
                   for comp, ys in comps.items() for i, y in enumerate(ys)])
    write_csv(os.path.join(args.out, "lambdas_over_training.csv"), ["config", "component", "layer", "step", "mean_over_seeds"],
              [[c, comp, i, st, y] for c, comps in lambdas_over_training(groups).items()
               for comp, layers in comps.items() for i, pts in layers.items() for st, y in pts])
    report = ["# gptc analyze\n", f"\nRuns: {len(runs)} in {len(groups)} configurations; baseline: {base}.\n",
              "\n## Final validation loss and mean train loss, over seeds\n",
              "\n| config | seeds | final mean | sd | min | max | mean train loss | steps to target |\n",
              "|---|---|---|---|---|---|---|---|\n"]
    for r in stats_rows:
        report.append(f"| {r[0]} | {r[1]} | {fmt(r[2])} | {fmt(r[3])} | {fmt(r[4])} | {fmt(r[5])} | {fmt(r[6])} | "
                      f"{fmt(r[10], 0)} ({r[14]} of {r[1]}) |\n")
    if paired_rows:
        report += [f"\n## Paired differences against {base} (same seed; negative: lower loss)\n",
                   "\n| config | over | pairs | mean difference | 95% CI | p | lower in |\n",
                   "|---|---|---|---|---|---|---|\n"]
        for r in paired_rows:
            report.append(f"| {r[0]} | {r[2]} | {r[3]} | {fmt(r[4])} | [{fmt(r[5])}, {fmt(r[6])}] | {fmt(r[7], 3)} | "
                          f"{r[8]} of {r[3]} |\n")
    if not args.no_plots:
        plot(args.out, groups, args, report)
    report.append("\nEvery plotted series is also a CSV file beside this report.\n")
    with open(os.path.join(args.out, "report.md"), "w") as f:
        f.writelines(report)
    print(f"gptc analyze: {len(runs)} runs, {len(groups)} configurations: {args.out}/report.md")


def window(text):
    a, _, b = text.partition(":")
    try:
        return [float(a), float(b)]
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not A:B")


def main():
    ap = argparse.ArgumentParser(prog="gptc analyze")
    ap.add_argument("dirs", nargs="+")
    ap.add_argument("-o", "--out", required=True)
    ap.add_argument("--baseline")
    ap.add_argument("--target", type=float)
    ap.add_argument("--steps", type=window)
    ap.add_argument("--time", type=window)
    ap.add_argument("--no-plots", action="store_true")
    analyze(ap.parse_args())


if __name__ == "__main__":
    sys.exit(main())
