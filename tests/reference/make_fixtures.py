"""
make_fixtures.py: writes tests/fixtures/NAME.bin for every
tests/reference/configs/NAME.yaml with the independent PyTorch reference
(gptc_ref.py), all in float64:

  inputs     i32 [10, T]  token ids of steps 0..9 (several EOT-separated documents)
  targets    i32 [10, T]
  eval_step  i32 [1]      the training step whose windows the forward below uses
  schedule.windows   i32 [10, 2]  (long, short) window in blocks at steps 0..9
  schedule.lr_mult   f64 [10]     LR multiplier at steps 0..9
  schedule.momentum  f64 [10]     Muon momentum at steps 0..9
  param.N    f64          initial value of every parameter N, in state_dict order
  logits     f64 [T, Vp]  logits after the softcap for inputs[0], targets[0]
  loss       f64 [1]      their mean cross-entropy
  grad.N     f64          d loss / d N for every parameter
  losses     f64 [10]     training losses: step k runs forward on inputs[k],
                          targets[k] with step k's windows, records the loss,
                          then takes one optimizer step at step index k

The forward/backward check uses batch 0 with the windows of `eval_step`
(EVAL_STEP below) rather than step 0, because at step 0 the cubic and linear
schedules give 1-block windows, which would leave most of the mask untested.

Format (little-endian): "GPTCFIX1", uint32 tensor count, then per tensor
uint32 name length, the name (no NUL), uint32 dtype (0 f32, 1 f64, 2 i32),
uint32 ndim, int64 shape[ndim], the data.

Usage (from the repository root, torch needed):
  /usr/bin/python3 tests/reference/make_fixtures.py --gptc build/gptc
The output is deterministic: the same bytes on every run.
"""
import argparse
import glob
import os
import struct
import sys
import zlib

try:
    import numpy as np
    import torch
except ImportError as e:
    sys.exit("make_fixtures: %s needs numpy and PyTorch (Debian: python3-torch): %s"
             % (sys.executable, e))

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gptc_ref as ref  # noqa: E402

STEPS = 10       # optimizer steps recorded (the configs set train.steps: 10)
EVAL_STEP = 7    # windows of this step for the logits/gradient check
SCALAR_NOISE = 0.1

DT_F32, DT_F64, DT_I32 = 0, 1, 2


def make_batches(cfg, T, gen):
    """STEPS sequences of T tokens: random ids that avoid EOT, then EOT at 2
    or 3 random positions in the first half (and at position 0 in every
    other sequence). So each sequence holds short documents, which test the
    document mask, and a last one of at least T/2 tokens, longer than the
    windows, which tests the block window. Targets are uniform over the
    vocabulary."""
    inputs = torch.randint(0, cfg.V - 1, (STEPS, T), generator=gen)
    inputs[inputs >= cfg.eot] += 1                      # skip the EOT id
    for s in range(STEPS):
        n = 2 + int(torch.randint(0, 2, (1,), generator=gen))
        pos = torch.randperm(T // 2 - 1, generator=gen)[:n] + 1
        inputs[s, pos] = cfg.eot
        if s % 2 == 0:
            inputs[s, 0] = cfg.eot
    targets = torch.randint(0, cfg.V, (STEPS, T), generator=gen)
    return inputs.int(), targets.int()


def fixture(cfg, seed):
    T = cfg.spec["train.tokens_per_rank"]
    assert cfg.steps == STEPS and EVAL_STEP < STEPS
    gen = torch.Generator().manual_seed(seed)
    p0 = ref.init_params(cfg, gen, torch.float64, SCALAR_NOISE)
    # Round the initial weights to float32 values, so that the float C model
    # starts from exactly the same point as this float64 reference.
    p0 = {n: t.float().double() for n, t in p0.items()}
    inputs, targets = make_batches(cfg, T, gen)

    tensors = [("inputs", inputs), ("targets", targets),
               ("eval_step", torch.tensor([EVAL_STEP], dtype=torch.int32))]
    # The schedules of steps 0..STEPS-1 (docs/recipe.md, 'Window schedule' and
    # 'Schedules'), for a direct check of compiler/lang/spec.c's versions: windows
    # (long, short) in blocks, LR multiplier, Muon momentum.
    tensors += [("schedule.windows", torch.tensor([cfg.windows(k) for k in range(STEPS)],
                                                  dtype=torch.int32)),
                ("schedule.lr_mult", torch.tensor([ref.lr_mult(cfg, k) for k in range(STEPS)],
                                                  dtype=torch.float64)),
                ("schedule.momentum", torch.tensor([ref.muon_momentum(cfg, k)
                                                    for k in range(STEPS)], dtype=torch.float64))]
    tensors += [("param." + n, t) for n, t in p0.items()]

    # Forward and backward on batch 0.
    p = {n: t.clone().requires_grad_(True) for n, t in p0.items()}
    logits, loss = ref.forward(cfg, p, inputs[0], targets[0], EVAL_STEP)
    loss.backward()
    tensors += [("logits", logits.detach()), ("loss", loss.detach().reshape(1))]
    tensors += [("grad." + n, t.grad) for n, t in p.items()]

    # STEPS optimizer steps from the same initial weights.
    p = {n: t.clone().requires_grad_(True) for n, t in p0.items()}
    opt = ref.Optimizers(cfg, p)
    losses = []
    for k in range(STEPS):
        for t in p.values():
            t.grad = None
        _, loss = ref.forward(cfg, p, inputs[k], targets[k], k)
        loss.backward()
        losses.append(loss.item())
        opt.step(k)
    tensors.append(("losses", torch.tensor(losses, dtype=torch.float64)))
    return tensors


def encode(tensors):
    out = [b"GPTCFIX1", struct.pack("<I", len(tensors))]
    for name, t in tensors:
        a = t.detach().numpy()
        if a.dtype == np.float64:
            dt, a = DT_F64, a.astype("<f8")
        elif a.dtype == np.float32:
            dt, a = DT_F32, a.astype("<f4")
        elif a.dtype == np.int32:
            dt, a = DT_I32, a.astype("<i4")
        else:
            raise TypeError("%s: %s" % (name, a.dtype))
        nb = name.encode()
        out.append(struct.pack("<I", len(nb)) + nb)
        out.append(struct.pack("<II", dt, a.ndim) + struct.pack("<%dq" % a.ndim, *a.shape))
        out.append(np.ascontiguousarray(a).tobytes())
    return b"".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--gptc", default="build/gptc")
    ap.add_argument("--configs", default="tests/reference/configs")
    ap.add_argument("--out", default="tests/fixtures")
    ap.add_argument("--libm-rotary", action="store_true",
                    help="diagnostic: build the rotary table with the C library "
                         "(see gptc_ref.LIBM_ROTARY); never for committed fixtures")
    args = ap.parse_args()
    ref.LIBM_ROTARY = args.libm_rotary
    torch.set_num_threads(1)              # the same summation order every run
    torch.use_deterministic_algorithms(True)
    os.makedirs(args.out, exist_ok=True)
    configs = sorted(glob.glob(os.path.join(args.configs, "*.yaml")))
    if not configs:
        sys.exit("make_fixtures: no configs in " + args.configs)
    for path in configs:
        name = os.path.splitext(os.path.basename(path))[0]
        cfg = ref.Config(ref.load_spec(path, args.gptc))
        data = encode(fixture(cfg, zlib.crc32(name.encode())))
        dest = os.path.join(args.out, name + ".bin")
        tmp = dest + ".tmp"
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, dest)
        print("%-28s %7d bytes" % (dest, len(data)))


if __name__ == "__main__":
    main()
