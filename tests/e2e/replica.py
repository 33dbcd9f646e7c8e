"""One replica of a model server: compile a small real model with
torch.compile (Inductor, CPU), run it on a few input shapes and print one
JSON object on stdout: the time to the first output, the compile times,
Inductor's cache counters and a checksum of every output.

The model is fixed by its seed, so two replicas on the same machine must
produce bitwise identical outputs; the counters say whether Inductor
compiled (miss) or found the graph in TORCHINDUCTOR_CACHE_DIR (hit).

Usage: python replica.py [--shapes 1,4] [--first-only] [--ref-load]
  --first-only  stop after the first output (the benchmark's time to
                first inference).
  --ref-load    first call the reference's b10_transfer.load_compile_cache()
                in this process, as a Truss model.py does.
"""
import time

T0 = time.monotonic()

import argparse
import hashlib
import json
import os
import sys
import warnings

# The venv has no numpy; torch warns about it once, on stderr, at import.
warnings.filterwarnings("ignore", message="Failed to initialize NumPy")
# One compile thread: on a 2-core CI machine a pool of compile workers costs
# more to start than it saves on this small model, and it keeps the replica
# one process, so the benchmark measures what it says.
os.environ.setdefault("TORCHINDUCTOR_COMPILE_THREADS", "1")

import torch  # noqa: E402
import torch._dynamo.utils  # noqa: E402

T_IMPORT = time.monotonic()


class Model(torch.nn.Module):
    """A few layers of what a server runs: projections, a norm, attention-ish
    softmax, a residual: several fused C++ kernels per graph."""

    def __init__(self, d=64):
        super().__init__()
        self.inp = torch.nn.Linear(d, 2 * d)
        self.norm = torch.nn.LayerNorm(2 * d)
        self.q = torch.nn.Linear(2 * d, 2 * d)
        self.k = torch.nn.Linear(2 * d, 2 * d)
        self.out = torch.nn.Linear(2 * d, d)

    def forward(self, x):
        h = torch.nn.functional.gelu(self.norm(self.inp(x)))
        a = torch.softmax(self.q(h) @ self.k(h).transpose(-1, -2) / 11.3, dim=-1)
        return self.out(a @ h) + x.tanh()


def counters():
    c = torch._dynamo.utils.counters
    ind = c["inductor"]
    aot = c["aot_autograd"]
    return {
        "fxgraph_cache_hit": ind["fxgraph_cache_hit"],
        "fxgraph_cache_miss": ind["fxgraph_cache_miss"],
        "fxgraph_cache_bypass": ind["fxgraph_cache_bypass"],
        "autograd_cache_hit": aot["autograd_cache_hit"],
        "autograd_cache_miss": aot["autograd_cache_miss"],
        "autograd_cache_bypass": aot["autograd_cache_bypass"],
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--shapes", default="1,4,8")
    ap.add_argument("--first-only", action="store_true")
    ap.add_argument("--ref-load", action="store_true")
    args = ap.parse_args()
    ref = None
    if args.ref_load:
        t = time.monotonic()
        import b10_transfer
        status = b10_transfer.load_compile_cache()
        ref = {"status": status.name, "seconds": round(time.monotonic() - t, 3)}
    shapes = [int(s) for s in args.shapes.split(",")]

    torch.manual_seed(1234)
    model = Model().eval()
    compiled = torch.compile(model, backend="inductor", dynamic=False)
    digest = hashlib.sha256()
    per_shape = []
    first = None
    with torch.no_grad():
        for b in shapes:
            gen = torch.Generator().manual_seed(b)
            x = torch.randn(b, 16, 64, generator=gen)
            t = time.monotonic()
            y = compiled(x)
            per_shape.append(round(time.monotonic() - t, 3))
            if first is None:
                first = time.monotonic() - T0
                if args.first_only:
                    break
            # No numpy in the venv: the raw bytes through a uint8 view.
            digest.update(bytes(y.contiguous().view(torch.uint8).flatten().tolist()))
    json.dump({
        "torch_version": torch.__version__,
        "cache_dir": os.environ.get("TORCHINDUCTOR_CACHE_DIR"),
        "shapes": shapes,
        "import_s": round(T_IMPORT - T0, 3),
        "first_output_s": round(first, 3),
        "compile_s": per_shape,
        "compile_total_s": round(sum(per_shape), 3),
        "counters": counters(),
        "checksum": digest.hexdigest(),
        "ref_load": ref,
    }, sys.stdout, sort_keys=True)
    print()


if __name__ == "__main__":
    main()
