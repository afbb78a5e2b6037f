#!/usr/bin/env python3
"""Benchmark of our CUDA kernels (kernels/) against PyTorch eager, torch.compile
and the device's copy bandwidth. Prints a markdown table.

    python3 bench/gpu_kernels.py BUILD_DIR [--quick] [--no-compile] [--dtypes fp16,bf16,fp32]
        [--ops rms_norm,...] [--min-mb MB] [--shapes 16384x8192,...] [--before OLD_BUILD_DIR]
        [--also LABEL=BUILD_DIR ...]

BUILD_DIR holds hub-kernels/<name>/build/<variant>/ with a CUDA variant (see
kernels/build_standalone.sh). Loading goes through the real Python `kernels`
package (get_local_kernel).

Method: CUDA events around `iters` back-to-back calls after warm-up; the
median of 5 such runs, in microseconds per call. GB/s counts the bytes an
ideal kernel moves (each input element read once, each output written once;
rms_norm also reads the weight; fused_add_rms_norm reads input and residual
and writes both, in place). "copy GB/s" is `dst.copy_(src)` moving the
same number of bytes (half read, half written), measured the same way;
"% copy" = our GB/s / copy GB/s. Eager is the plain PyTorch expression
(allocating its result, as models do); compile is torch.compile of that
expression (mode="max-autotune-no-cudagraphs" is not used: default mode).
--before adds the time of another build of the kernels (e.g. the previous
commit's) measured in the same run; --also adds one more column per build, named
LABEL (candidate launches; a build may hold only some of the kernels: "-" for
the others); --min-mb keeps the shapes whose input is at least that many MB.
"""

import argparse
import statistics
import sys
from pathlib import Path

sys.dont_write_bytecode = True

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


def time_us(fn, iters, runs=5, warmup=3):
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    samples = []
    for _ in range(runs):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        for _ in range(iters):
            fn()
        end.record()
        end.synchronize()
        samples.append(start.elapsed_time(end) * 1000.0 / iters)
    return statistics.median(samples)


def iters_for(nbytes):
    # About 20 ms per run, at least 10 calls.
    return max(10, min(2000, int(20e-3 * 2.5e12 / max(nbytes, 1))))


_copy_cache = {}


def copy_gbps(nbytes, iters):
    key = nbytes
    if key not in _copy_cache:
        half = max(nbytes // 2, 16)
        src = torch.empty(half, dtype=torch.uint8, device="cuda").fill_(1)
        dst = torch.empty_like(src)
        t = time_us(lambda: dst.copy_(src), iters)
        _copy_cache[key] = 2 * half / (t * 1e-6) / 1e9
    return _copy_cache[key]


def gated_ref(act):
    def f(x):
        d = x.shape[-1] // 2
        return act(x[..., :d]) * x[..., d:]

    return f


def gelu_fast_ref(x):
    return 0.5 * x * (1.0 + torch.tanh(0.7978845608 * x * (1.0 + 0.044715 * x * x)))


def gelu_new_ref(x):
    return 0.5 * x * (1.0 + torch.tanh(0.7978845608 * (x + 0.044715 * torch.pow(x, 3.0))))


def cases(quick, shapes=None):
    tokens = [8, 4096] if quick else [1, 8, 256, 4096, 16384]
    hidden = 4096 if quick else None
    if shapes is None:
        shapes = [(t, hidden or h) for t in tokens for h in ([4096, 8192] if hidden is None else [hidden])]
    for t, h in shapes:
        for op, ref in (
            ("gelu_tanh", lambda x: F.gelu(x, approximate="tanh")),
            ("gelu_fast", gelu_fast_ref),
            ("gelu_new", gelu_new_ref),
            ("silu", F.silu),
        ):
            yield "activation", op, ref, (t, h), "elementwise"
        for op, ref in (
            ("silu_and_mul", gated_ref(F.silu)),
            ("gelu_and_mul", gated_ref(F.gelu)),
            ("gelu_tanh_and_mul", gated_ref(lambda v: F.gelu(v, approximate="tanh"))),
        ):
            yield "activation", op, ref, (t, 2 * h), "gated"
        yield "rmsnorm", "rms_norm", None, (t, h), "norm"
        yield "rmsnorm", "fused_add_rms_norm", None, (t, h), "fused"


def main(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("build_dir", type=Path)
    p.add_argument("--quick", action="store_true", help="fewer shapes")
    p.add_argument("--no-compile", action="store_true", help="skip torch.compile")
    p.add_argument("--dtypes", default="bf16,fp16,fp32")
    p.add_argument("--ops", default="", help="comma-separated ops to run (default: all)")
    p.add_argument("--min-mb", type=float, default=0.0, help="only inputs of at least this many MB")
    p.add_argument("--shapes", default="", metavar="TOKENSxHIDDEN,...",
                   help="these shapes instead of the default list (gated ops take 2 x HIDDEN)")
    p.add_argument("--before", type=Path, help="another build of the kernels, timed alongside")
    p.add_argument("--also", action="append", default=[], metavar="LABEL=BUILD_DIR",
                   help="more builds timed alongside, one column each (repeatable)")
    a = p.parse_args(argv[1:])
    if not torch.cuda.is_available():
        print("no CUDA device", file=sys.stderr)
        return 1

    from kernels import get_local_kernel

    def load(build, partial=False):
        kernels = [k for k in ("activation", "rmsnorm") if not partial or (build / "hub-kernels" / k).is_dir()]
        return {k: get_local_kernel(build.resolve() / "hub-kernels" / k) for k in kernels}

    mods = load(a.build_dir)
    before = load(a.before) if a.before else None
    also = [(label, load(Path(d), partial=True)) for label, d in (s.split("=", 1) for s in a.also)]
    print(f"GPU: {torch.cuda.get_device_name()}; torch {torch.__version__}, CUDA {torch.version.cuda}; "
          f"kernels {mods['activation'].ops.name}, {mods['rmsnorm'].ops.name}"
          + (f"; before: {before['activation'].ops.name}, {before['rmsnorm'].ops.name}" if before else "") + "\n")
    extra = (" before µs |" if before else "") + "".join(f" {label} µs |" for label, _ in also)
    print("| op | dtype | input shape | ours µs | ours GB/s | copy GB/s | % copy | eager µs | compile µs |"
          f"{extra} vs eager | vs compile |")
    print("|---|---|---|---:|---:|---:|---:|---:|---:|" + "---:|" * (bool(before) + len(also)) + "---:|---:|")
    # Dynamo caches compiled code per code object: past its recompile limit (8)
    # a reference shared by many shapes would silently run eager.
    for name in ("recompile_limit", "cache_size_limit"):
        if hasattr(torch._dynamo.config, name):
            setattr(torch._dynamo.config, name, 1 << 16)
    compiled = {}
    only = set(filter(None, a.ops.split(",")))
    for dname in a.dtypes.split(","):
        dtype = DTYPES[dname]
        shapes = [tuple(map(int, s.split("x"))) for s in a.shapes.split(",")] if a.shapes else None
        for kernel, op, ref, shape, kind in cases(a.quick, shapes):
            if (only and op not in only) or shape[0] * shape[1] * torch.finfo(dtype).bits / 8 < a.min_mb * 2**20:
                continue
            torch.manual_seed(0)
            x = torch.randn(shape, dtype=dtype, device="cuda")
            es = x.element_size()
            if kind in ("elementwise", "gated"):
                out = torch.empty(shape[:-1] + (shape[-1] // (2 if kind == "gated" else 1),), dtype=dtype, device="cuda")
                call = lambda m: getattr(m[kernel].ops, op)(out, x)  # noqa: E731
                eager = lambda: ref(x)  # noqa: E731
                nbytes = (x.numel() + out.numel()) * es
            elif kind == "norm":
                w = torch.randn(shape[-1], dtype=dtype, device="cuda")
                out = torch.empty_like(x)
                call = lambda m: m[kernel].ops.rms_norm(out, x, w, 1e-6)  # noqa: E731
                ref = lambda v, w=w: F.rms_norm(v, (v.shape[-1],), w, 1e-6)  # noqa: E731
                eager = lambda: ref(x)  # noqa: E731
                nbytes = (2 * x.numel() + w.numel()) * es
            else:  # fused: residual += x; x = rms_norm(residual), in place (eager/compile allocate)
                w = torch.randn(shape[-1], dtype=dtype, device="cuda")
                res = torch.randn(shape, dtype=dtype, device="cuda")
                call = lambda m: m[kernel].ops.fused_add_rms_norm(x, res, w, 1e-6)  # noqa: E731

                def ref(v, r=res, w=w):
                    s = v + r
                    return F.rms_norm(s, (v.shape[-1],), w, 1e-6), s

                eager = lambda: ref(x)  # noqa: E731
                nbytes = (4 * x.numel() + w.numel()) * es
            iters = iters_for(nbytes)
            t_ours = time_us(lambda: call(mods), iters)
            t_before = time_us(lambda: call(before), iters) if before else None
            t_also = [time_us(lambda m=m: call(m), iters) if kernel in m else None for _, m in also]
            t_eager = time_us(eager, iters)
            t_comp = float("nan")
            if not a.no_compile:
                try:
                    key = (op, dname, shape)
                    if key not in compiled:
                        compiled[key] = torch.compile(ref, dynamic=False)
                    cfn = compiled[key]
                    t_comp = time_us(lambda: cfn(x), iters)
                except Exception as e:  # torch.compile may be unavailable (no Triton)
                    print(f"<!-- torch.compile failed for {op}: {type(e).__name__}: {str(e)[:120]} -->")
                    a.no_compile = True
            gbps = nbytes / (t_ours * 1e-6) / 1e9
            cgbps = copy_gbps(nbytes, iters)
            comp = f"{t_comp:.1f}" if t_comp == t_comp else "n/a"
            vs_comp = f"{t_comp / t_ours:.2f}x" if t_comp == t_comp else "n/a"
            bef = (f" {t_before:.1f} |" if before else "") + "".join(
                " - |" if t is None else f" {t:.1f} |" for t in t_also)
            print(f"| {op} | {dname} | {'x'.join(map(str, shape))} | {t_ours:.1f} | {gbps:.0f} | {cgbps:.0f} | "
                  f"{100 * gbps / cgbps:.0f}% | {t_eager:.1f} | {comp} |{bef} {t_eager / t_ours:.2f}x | {vs_comp} |")
            sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
