"""
gptc_ref.py: an independent PyTorch implementation of the model family gptc
compiles, for checking the C `ref` executor and runtime/optim.c.

It is written from the recipe's description (docs/recipe.md, whose sections
are cited below by title) and from gptc's key reference (models/README.md),
not from the C code. Gradients come from autograd; the
only hand-written optimizer is Muon, because torch has none.

Everything runs in the dtype of the parameters it is given (float64 for the
fixtures). The one deliberate exception is the rotary table, which the recipe
builds in float32 ('Rotary') and which is then used in the working dtype.

The model description is gptc's own resolved spec: the "spec" object of
`gptc check MODEL.yaml --json`, with dotted keys as in `gptc keys` and every
derived value filled in (see load_spec).
"""
import json
import math
import subprocess

import torch
import torch.nn.functional as F

# RMSNorm epsilon: float32 machine epsilon 2^-23 in every dtype ('RMS norm').
RMS_EPS = 1.1920928955078125e-07


# ---------------------------------------------------------------------------
# The spec
# ---------------------------------------------------------------------------

def load_spec(model_yaml, gptc="build/gptc"):
    """The resolved spec of a model file, as gptc reads it."""
    out = subprocess.run([gptc, "check", model_yaml, "--json"], check=True,
                         stdout=subprocess.PIPE).stdout
    return json.loads(out)["spec"]


class Config:
    """The spec's keys under short names."""

    def __init__(self, spec):
        self.spec = spec
        g = spec.__getitem__
        self.L = g("model.layers")
        self.D = g("model.dim")
        self.heads = g("model.heads")
        self.hd = g("model.head_dim")
        self.hidden = g("model.mlp_hidden")
        assert g("model.activation") == "relu2"
        self.V = g("vocab.size")
        self.Vp = g("vocab.padded")
        self.eot = g("vocab.eot")
        # Tables are padded like the head only with vocab.pad_embeddings
        # ('Dimensions and parameter counts').
        self.V_tables = self.Vp if g("vocab.pad_embeddings") else self.V
        off = set(g("attention.off_layers"))
        self.attn = [i not in off for i in range(self.L)]
        self.norm = g("attention.norm")            # "qkv" or "pre"
        self.scale = g("attention.scale")
        self.rot_base = g("attention.rotary.base")
        self.rot_pairs = g("attention.rotary.pairs")
        self.rot_conv = g("attention.rotary.convention")
        self.bs = g("attention.window.block_size")
        self.win_schedule = g("attention.window.schedule")
        self.max_tokens = g("attention.window.max_tokens")
        self.short_max = g("attention.window.short_max_blocks")
        longs = set(g("attention.window.long_layers"))
        self.long = [i in longs for i in range(self.L)]
        self.n_ve = g("value_embeddings.tables")
        self.ve_layers = g("value_embeddings.layers")  # per layer: table or None
        self.n_in = g("input_embeddings.tables")
        self.skips = [tuple(p) for p in g("skips.pairs")]
        self.tied = g("head.tied")
        self.softcap = g("head.softcap")
        self.cap = g("head.cap")
        self.divisor = g("head.divisor")
        self.offset = g("head.offset")
        self.steps = g("train.steps")
        self.n_scalars = g("scalars.length")
        assert self.n_scalars == self.L * (self.n_in + 4)

    # 'Parameter names and order' / models/README.md: names of the input tables.
    def input_names(self):
        if self.n_in == 1:
            return ["embed.weight"]
        if self.n_in == 2:
            return ["embed1.weight", "embed2.weight"]
        return ["embed%d.weight" % k for k in range(self.n_in)]

    def param_shapes(self):
        """(name, shape) of every parameter in state_dict order
        ('Parameter names and order')."""
        out = []
        if not self.tied:
            out.append(("lm_head_w", (self.Vp, self.D)))
        out.append(("scalars", (self.n_scalars,)))
        for name in self.input_names():
            out.append((name, (self.V_tables, self.D)))
        for k in range(self.n_ve):
            out.append(("value_embeds.%d.weight" % k, (self.V_tables, self.D)))
        for i in range(self.L):
            if self.attn[i]:
                out.append(("blocks.%d.attn.qkvo_w" % i, (4, self.D, self.D)))
            out.append(("blocks.%d.mlp.fc_w" % i, (self.hidden, self.D)))
            out.append(("blocks.%d.mlp.proj_w" % i, (self.D, self.hidden)))
        return out

    # 'The scalars vector', 'Extra input embeddings': scalars = skip weights
    # [L] (by source layer), block lambdas [L x (n+1)] layer-major, attention
    # lambdas [L x 2].
    def skip_index(self, src):
        return src

    def lambda_index(self, layer, k):
        """k = 0: lambda_x; k = 1 + j: lambda of input table j (x00, x01...)."""
        return self.L + layer * (self.n_in + 1) + k

    def sa_index(self, layer, k):
        """k = 0: lambda_v; k = 1: lambda_ve."""
        return self.L + self.L * (self.n_in + 1) + 2 * layer + k

    # 'Window schedule' and models/README.md "Attention windows".
    def windows(self, step):
        """(long, short) window in blocks at training step `step`."""
        max_blocks = self.max_tokens // self.bs
        x = step / self.steps
        if self.win_schedule == "cubic":
            f = 4 * x ** 3 - 6 * x ** 2 + 3 * x
            long_w = math.ceil(max_blocks * f)
        elif self.win_schedule == "linear":
            long_w = math.ceil(self.max_tokens * x / self.bs)
        elif self.win_schedule == "constant":
            long_w = max_blocks
        else:
            raise ValueError(self.win_schedule)
        long_w = max(1, long_w)
        short_w = long_w // 2
        if self.short_max > 0:
            short_w = min(short_w, self.short_max)
        # A short window of 0 blocks acts as 1 ('Window schedule').
        return long_w, max(1, short_w)


# ---------------------------------------------------------------------------
# Initialisation ('Initialisation', roughly: the fixtures store the weights
# they use)
# ---------------------------------------------------------------------------

def init_params(cfg, gen, dtype=torch.float64, scalar_noise=0.0):
    """Initial weights drawn from generator `gen`, as a dict name -> tensor.

    Embeddings N(0, init_std); Q, K, V, O, fc and proj uniform with
    std = linear_std_scale / sqrt(fan_in) (Wo and proj zero only with
    init.zero_out_proj); head N(0, init_std) or zeros; scalars at their
    configured initial values plus optional N(0, scalar_noise) jitter, so
    that no lambda sits at a special value such as 0.
    """
    s = cfg.spec
    p = {}
    for name, shape in cfg.param_shapes():
        if name == "lm_head_w":
            if s["head.init"] == "normal":
                t = torch.randn(shape, generator=gen, dtype=dtype) * s["head.init_std"]
            else:
                t = torch.zeros(shape, dtype=dtype)
        elif name == "scalars":
            t = torch.zeros(shape, dtype=dtype)
            for i in range(cfg.L):
                t[cfg.skip_index(i)] = s["skips.init"]
                t[cfg.lambda_index(i, 0)] = s["input_embeddings.lambda_x"]
                t[cfg.lambda_index(i, 1)] = s["input_embeddings.lambda_x00"]
                for k in range(2, cfg.n_in + 1):
                    t[cfg.lambda_index(i, k)] = s["input_embeddings.lambda_extra"]
                t[cfg.sa_index(i, 0)] = s["value_embeddings.lambda_v"]
                t[cfg.sa_index(i, 1)] = s["value_embeddings.lambda_ve"]
            if scalar_noise:
                t += torch.randn(shape, generator=gen, dtype=dtype) * scalar_noise
        elif name.startswith("embed"):
            t = torch.randn(shape, generator=gen, dtype=dtype) * s["input_embeddings.init_std"]
        elif name.startswith("value_embeds"):
            if s["value_embeddings.init"] == "normal":
                t = torch.randn(shape, generator=gen, dtype=dtype) * s["value_embeddings.init_std"]
            else:
                t = torch.zeros(shape, dtype=dtype)
        else:
            fan_in = shape[-1]
            bound = math.sqrt(3.0) * s["init.linear_std_scale"] / math.sqrt(fan_in)
            t = (torch.rand(shape, generator=gen, dtype=dtype) * 2 - 1) * bound
            if s["init.zero_out_proj"]:
                if name.endswith("qkvo_w"):
                    t[3].zero_()
                elif name.endswith("proj_w"):
                    t.zero_()
        p[name] = t
    return p


# ---------------------------------------------------------------------------
# The forward pass ('Forward pass', in order)
# ---------------------------------------------------------------------------

def rmsnorm(x):
    """Weightless RMSNorm over the last dim, eps = 2^-23 ('RMS norm')."""
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + RMS_EPS)


def rotary_tables(cfg, T):
    """cos, sin of shape [T, head_dim/2] ('Rotary').

    `pairs` frequencies geometric from 1 to 1/base, both ends included
    (linspace(0, 1, pairs) as exponent), then zeros up to head_dim/2. Built in
    float32 like the recipe: exponents, frequencies, positions, angles
    t*freq and their cos/sin are float32 values.
    """
    half = cfg.hd // 2
    freq = torch.zeros(half, dtype=torch.float32)
    if cfg.rot_pairs > 0:
        freq[:cfg.rot_pairs] = (1.0 / cfg.rot_base) ** torch.linspace(
            0, 1, steps=cfg.rot_pairs, dtype=torch.float32)
    t = torch.arange(T, dtype=torch.float32)
    theta = torch.outer(t, freq)          # float32 products
    return theta.cos(), theta.sin()


# Diagnostic only, never used for committed fixtures: the same float32 table
# built with the C library's powf/cosf/sinf and the exponent j / (pairs - 1)
# as a float division instead of torch.linspace. torch's float32 pow, cos and
# sin, and linspace's formula, differ from glibc's in the last bit of some
# entries; with this table the float64 comparison shows what is left once
# the table is bit-identical (make_fixtures.py --libm-rotary).
LIBM_ROTARY = False


def rotary_tables_libm(cfg, T):
    import ctypes
    import numpy as np
    libm = ctypes.CDLL("libm.so.6")
    for fn, nargs in (("powf", 2), ("cosf", 1), ("sinf", 1)):
        getattr(libm, fn).restype = ctypes.c_float
        getattr(libm, fn).argtypes = [ctypes.c_float] * nargs
    f32 = np.float32
    half = cfg.hd // 2
    cos = np.zeros((T, half), np.float32)
    sin = np.zeros((T, half), np.float32)
    for j in range(half):
        freq = f32(0)
        if j < cfg.rot_pairs:
            freq = f32(libm.powf(float(f32(1.0 / cfg.rot_base)),
                                 float(f32(j) / f32(cfg.rot_pairs - 1)))) \
                if cfg.rot_pairs > 1 else f32(1)
        for t in range(T):
            a = float(f32(t) * freq)
            cos[t, j], sin[t, j] = libm.cosf(a), libm.sinf(a)
    return torch.from_numpy(cos), torch.from_numpy(sin)


def apply_rotary(x, cos, sin, convention):
    """x: [T, heads, head_dim]. Pairs (j, j + head_dim/2) for "half", (2j, 2j+1)
    for "interleaved"; y1 = x1 cos + x2 sin, y2 = -x1 sin + x2 cos (the recipe's
    sign, 'Rotary')."""
    cos = cos.to(x.dtype)[:, None, :]
    sin = sin.to(x.dtype)[:, None, :]
    if convention == "half":
        x1, x2 = x.chunk(2, dim=-1)
        return torch.cat([x1 * cos + x2 * sin, -x1 * sin + x2 * cos], dim=-1)
    x1, x2 = x[..., 0::2], x[..., 1::2]
    y1 = x1 * cos + x2 * sin
    y2 = -x1 * sin + x2 * cos
    return torch.stack([y1, y2], dim=-1).flatten(-2)


def window_mask(cfg, ids, W):
    """Boolean [T, T] mask, [query, key], from the token rule of
    'Document mask': k <= q, same document (doc = cumsum(ids == eot), inclusive), and
    k // bs >= q // bs - W + 1."""
    T = ids.numel()
    doc = torch.cumsum((ids == cfg.eot).long(), 0)
    q = torch.arange(T)[:, None]
    k = torch.arange(T)[None, :]
    return (k <= q) & (doc[None, :] == doc[:, None]) & (k // cfg.bs >= q // cfg.bs - W + 1)


def attention(cfg, i, x, qkvo, ve, sa_v, sa_ve, mask, cos, sin):
    """One attention layer's output (to be added to x) ('Attention')."""
    T = x.shape[0]
    h = rmsnorm(x) if cfg.norm == "pre" else x
    q = (h @ qkvo[0].T).view(T, cfg.heads, cfg.hd)
    k = (h @ qkvo[1].T).view(T, cfg.heads, cfg.hd)
    v = (h @ qkvo[2].T).view(T, cfg.heads, cfg.hd)
    # qkv: q, k and v normed per head, no norm on the input. pre: the input
    # is normed, then q and k only ('Attention', models/README.md).
    q, k = rmsnorm(q), rmsnorm(k)
    if cfg.norm == "qkv":
        v = rmsnorm(v)
    q = apply_rotary(q, cos, sin, cfg.rot_conv)
    k = apply_rotary(k, cos, sin, cfg.rot_conv)
    if ve is not None:
        v = sa_v * v + sa_ve * ve.view(T, cfg.heads, cfg.hd)
    else:
        v = sa_v * v
    att = torch.einsum("qhd,khd->hqk", q, k) * cfg.scale
    att = att.masked_fill(~mask, float("-inf"))
    att = torch.softmax(att, dim=-1)
    y = torch.einsum("hqk,khd->qhd", att, v).reshape(T, cfg.D)
    return y @ qkvo[3].T


def softcap(cfg, z):
    """'Head, softcap and loss': isru cap z / sqrt(z^2 + cap^2); sigmoid
    cap sigmoid((z + offset) / divisor); none."""
    if cfg.softcap == "isru":
        return cfg.cap * z * torch.rsqrt(z * z + cfg.cap * cfg.cap)
    if cfg.softcap == "sigmoid":
        return cfg.cap * torch.sigmoid((z + cfg.offset) / cfg.divisor)
    assert cfg.softcap == "none"
    return z


def forward(cfg, p, ids, targets, step):
    """(logits after the softcap [T, Vp], mean cross-entropy) for one packed
    sequence with the windows of training step `step` ('Forward pass')."""
    T = ids.numel()
    s = p["scalars"]
    ids = ids.long()
    # 1. value embeddings: raw lookups, not normed.
    ves = [p["value_embeds.%d.weight" % k][ids] for k in range(cfg.n_ve)]
    # 2. masks for the step's long and short windows.
    long_w, short_w = cfg.windows(step)
    masks = {True: window_mask(cfg, ids, long_w), False: window_mask(cfg, ids, short_w)}
    cos, sin = (rotary_tables_libm if LIBM_ROTARY else rotary_tables)(cfg, T)
    # 3. x = x00 = rmsnorm(embed(ids)); each extra table normed on its own
    # ('Extra input embeddings').
    x0 = [rmsnorm(p[name][ids]) for name in cfg.input_names()]
    x = x0[0]
    outs = []
    for i in range(cfg.L):
        # 4a. U-net skips into this layer, in list order, weight of the source.
        for src, dst in cfg.skips:
            if dst == i:
                x = x + s[cfg.skip_index(src)] * outs[src]
        # 4b. x0 mix: x = lambda_x x + sum_k lambda_x0k x0k.
        x = s[cfg.lambda_index(i, 0)] * x
        for k in range(cfg.n_in):
            x = x + s[cfg.lambda_index(i, k + 1)] * x0[k]
        # 4c. attention (a value embedding on an attention-less layer is unused).
        if cfg.attn[i]:
            t = cfg.ve_layers[i]
            x = x + attention(cfg, i, x, p["blocks.%d.attn.qkvo_w" % i],
                              ves[t] if t is not None else None,
                              s[cfg.sa_index(i, 0)], s[cfg.sa_index(i, 1)],
                              masks[cfg.long[i]], cos, sin)
        # 4d. MLP on the normed stream: proj relu(fc x)^2 ('MLP').
        h = rmsnorm(x) @ p["blocks.%d.mlp.fc_w" % i].T
        x = x + F.relu(h).square() @ p["blocks.%d.mlp.proj_w" % i].T
        outs.append(x)
    # 5. final norm, head (x00's table when tied), softcap, mean CE over
    # every padded class ('Head, softcap and loss').
    head = p[cfg.input_names()[0]] if cfg.tied else p["lm_head_w"]
    logits = softcap(cfg, rmsnorm(x) @ head.T)
    loss = F.cross_entropy(logits, targets.long(), reduction="mean")
    return logits, loss


# ---------------------------------------------------------------------------
# Optimizers and schedules ('Muon', 'Adam', 'Schedules')
# ---------------------------------------------------------------------------

def lr_mult(cfg, step):
    """'Schedules': 1 while x < 1 - cooldown_frac, then (1 - x) / cooldown_frac;
    then floor + (1 - floor) mult (train.lr_floor)."""
    x = step / cfg.steps
    cd = cfg.spec["train.cooldown_frac"]
    mult = 1.0 if x < 1 - cd else (1 - x) / cd
    floor = cfg.spec["train.lr_floor"]
    return floor + (1 - floor) * mult


def muon_momentum(cfg, step):
    """'Schedules': linear warm-up from momentum_start to momentum_end."""
    s = cfg.spec
    warm = s["train.muon.momentum_warmup_steps"]
    f = min(step / warm, 1.0) if warm > 0 else 1.0
    return (1 - f) * s["train.muon.momentum_start"] + f * s["train.muon.momentum_end"]


def newton_schulz(G, coeffs):
    """'Muon': NS5 in the working precision (float64 here, not bf16): transpose
    when rows > cols, X / (|X|_F + 1e-7), then per iteration
    A = X X^T, B = b A + (c A) A, X = a X + B X."""
    X = G
    transposed = X.shape[0] > X.shape[1]
    if transposed:
        X = X.T
    X = X / (X.norm() + 1e-7)
    for a, b, c in coeffs:
        A = X @ X.T
        B = b * A + (c * A) @ A
        X = a * X + B @ X
    return X.T if transposed else X


class Muon:
    """'Muon' for the block matrices; qkvo_w is four matrices (Q, K, V, O)."""

    def __init__(self, cfg, params):
        s = cfg.spec
        self.cfg = cfg
        self.params = params                       # list of (name, tensor)
        self.lr = s["train.muon.lr"]
        self.wd = s["train.muon.weight_decay"]
        self.nesterov = s["train.muon.nesterov"]
        self.coeffs = s["train.muon.ns_coefficients"]
        self.buf = {name: torch.zeros_like(t) for name, t in params}

    @torch.no_grad()
    def step(self, step):
        cfg, s = self.cfg, self.cfg.spec
        m = muon_momentum(cfg, step)
        lr_t = self.lr * lr_mult(cfg, step)
        for name, w in self.params:
            g = w.grad
            buf = self.buf[name]
            buf.mul_(m).add_((1 - m) * g)          # buf = m buf + (1-m) g
            u = m * buf + (1 - m) * g if self.nesterov else buf
            wd_mul = s["train.muon.attn_wd_mul"] if name.endswith("qkvo_w") \
                else s["train.muon.mlp_wd_mul"]
            mats = [(w[j], u[j]) for j in range(4)] if w.dim() == 3 else [(w, u)]
            for wj, uj in mats:
                O = newton_schulz(uj, self.coeffs)
                rows, cols = wj.shape
                wj.mul_(1 - lr_t * self.wd * wd_mul)      # decay uses lr_t
                wj.sub_(lr_t * math.sqrt(max(1.0, rows / cols)) * O)


class Optimizers:
    """Adam (AdamW) for head, tables and scalars with per-group LRs ('Adam'),
    Muon for the block matrices ('Muon'); every LR times lr_mult(step)."""

    def __init__(self, cfg, p):
        s = cfg.spec
        self.cfg = cfg
        head = [p["lm_head_w"]] if "lm_head_w" in p else []
        tables = [t for n, t in p.items() if n.startswith("embed") or n.startswith("value_embeds")]
        groups = [dict(params=head, lr=s["train.adam.lr_head"]),
                  dict(params=tables, lr=s["train.adam.lr_embed"]),
                  dict(params=[p["scalars"]], lr=s["train.adam.lr_scalars"])]
        groups = [g for g in groups if g["params"]]
        for g in groups:
            g["base_lr"] = g["lr"]
        self.adam = torch.optim.AdamW(groups, betas=(s["train.adam.beta1"], s["train.adam.beta2"]),
                                      eps=s["train.adam.eps"], weight_decay=s["train.adam.weight_decay"])
        self.muon = Muon(cfg, [(n, t) for n, t in p.items() if n.startswith("blocks.")])

    def step(self, step):
        mult = lr_mult(self.cfg, step)
        for g in self.adam.param_groups:
            g["lr"] = g["base_lr"] * mult
        self.adam.step()
        self.muon.step(step)
