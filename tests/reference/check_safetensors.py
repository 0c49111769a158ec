#!/usr/bin/python3
"""check_safetensors.py: checks a safetensors file written by gptc against
the values it was made from, independently of gptc's own code.

    check_safetensors.py FILE.safetensors PARAMS.f32 MANIFEST

PARAMS.f32 holds the flat fp32 parameters (little-endian, tensors back to
back); MANIFEST has one line per tensor, in state_dict order:
"NAME DTYPE D0 [D1 [D2]]" with DTYPE BF16 or F32.

The file is parsed by hand (struct + json + torch.frombuffer), since the
`safetensors` package is usually not installed, following the format's
rules: 8-byte little-endian header length, a JSON object, offsets relative
to the end of the header, tensors back to back covering the whole data.
BF16 values are compared bit for bit with PyTorch's own fp32 -> bf16
conversion (round to nearest even); NaN must stay NaN. Finally the tensors
are loaded with load_state_dict(strict=True) into a module tree built from
the names, which proves the names are valid module paths with the right
shapes. Prints one line and exits 0 when everything holds, 1 otherwise.
"""
import json
import struct
import sys

import torch

DTYPES = {"BF16": (torch.bfloat16, 2), "F32": (torch.float32, 4)}


def fail(msg):
    print("check_safetensors: FAIL: " + msg)
    sys.exit(1)


def no_duplicates(pairs):
    keys = [k for k, _ in pairs]
    if len(keys) != len(set(keys)):
        fail("duplicate key in the JSON header")
    return dict(pairs)


def parse(path):
    raw = open(path, "rb").read()
    if len(raw) < 8:
        fail("shorter than the 8-byte header length")
    (n,) = struct.unpack("<Q", raw[:8])
    if n % 8 or 8 + n > len(raw):
        fail("header length %d is not a multiple of 8 or runs past the file" % n)
    text = raw[8:8 + n].decode("utf-8")
    if text.rstrip(" ") != text.strip() or not text.startswith("{"):
        fail("header must be a JSON object padded with trailing spaces")
    pairs = json.loads(text, object_pairs_hook=lambda p: p)
    return [(k, no_duplicates(v) if isinstance(v, list) else v) for k, v in pairs], raw[8 + n:]


def read_manifest(path):
    out = []
    for line in open(path):
        f = line.split()
        out.append((f[0], f[1], [int(d) for d in f[2:]]))
    return out


def same_bits(got, want, dtype):
    ints = torch.int16 if dtype == torch.bfloat16 else torch.int32
    nan = torch.isnan(want)
    if not torch.equal(torch.isnan(got), nan):
        return False
    return torch.equal(got[~nan].view(ints), want[~nan].view(ints))


def module_tree(manifest):
    root = torch.nn.Module()
    for name, dt, shape in manifest:
        *path, leaf = name.split(".")
        m = root
        for part in path:
            if not hasattr(m, part):
                m.add_module(part, torch.nn.Module())
            m = getattr(m, part)
        m.register_parameter(leaf, torch.nn.Parameter(torch.zeros(shape, dtype=DTYPES[dt][0])))
    return root


def check_metadata(meta):
    """One __metadata__ of strings only (the format's rule): PyTorch's tag,
    and the model it carries: gptc's version and commit, the step, and the
    resolved spec as the JSON of `gptc check --json`."""
    keys = {"format", "source", "gptc.version", "gptc.commit", "gptc.step", "gptc.spec"}
    if len(meta) != 1 or set(meta[0]) != keys:
        fail("__metadata__ is %r" % meta)
    meta = meta[0]
    if not all(isinstance(v, str) for v in meta.values()):
        fail("__metadata__ values must be strings: %r" % meta)
    if (meta["format"], meta["source"]) != ("pt", "gptc") or not meta["gptc.step"].isdigit():
        fail("__metadata__ is %r" % meta)
    spec = json.loads(meta["gptc.spec"])
    if not isinstance(spec.get("model.layers"), int) or "train.steps" not in spec:
        fail("gptc.spec is not a model: %r" % meta["gptc.spec"][:200])


def main():
    if len(sys.argv) != 4:
        fail("usage: check_safetensors.py FILE.safetensors PARAMS.f32 MANIFEST")
    entries, data = parse(sys.argv[1])
    flat = torch.frombuffer(bytearray(open(sys.argv[2], "rb").read()), dtype=torch.float32)
    manifest = read_manifest(sys.argv[3])
    check_metadata([v for k, v in entries if k == "__metadata__"])
    tensors = [(k, v) for k, v in entries if k != "__metadata__"]
    if [k for k, _ in tensors] != [m[0] for m in manifest]:
        fail("names %r, expected %r" % ([k for k, _ in tensors], [m[0] for m in manifest]))
    at, src, state = 0, 0, {}
    for (name, info), (_, dt, shape) in zip(tensors, manifest):
        if set(info) != {"dtype", "shape", "data_offsets"}:
            fail("%s: keys %r" % (name, sorted(info)))
        if info["dtype"] != dt or info["shape"] != shape:
            fail("%s: %s %r, expected %s %r" % (name, info["dtype"], info["shape"], dt, shape))
        torch_dtype, size = DTYPES[dt]
        numel = 1
        for d in shape:
            numel *= d
        if info["data_offsets"] != [at, at + numel * size]:
            fail("%s: offsets %r, expected %r" % (name, info["data_offsets"], [at, at + numel * size]))
        got = torch.frombuffer(bytearray(data[at:at + numel * size]), dtype=torch_dtype).reshape(shape)
        want = flat[src:src + numel].reshape(shape).to(torch_dtype)
        if not same_bits(got, want, torch_dtype):
            fail("%s: values differ from the fp32 source converted by PyTorch" % name)
        state[name] = got
        at += numel * size
        src += numel
    if at != len(data) or src != flat.numel():
        fail("data is %d bytes (tensors cover %d); source has %d floats (used %d)"
             % (len(data), at, flat.numel(), src))
    module_tree(manifest).load_state_dict(state, strict=True)
    print("check_safetensors: %d tensors, %d parameters OK" % (len(tensors), src))


if __name__ == "__main__":
    main()
