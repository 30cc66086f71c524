#!/usr/bin/env python3
"""trace_q8tma.py -- the timeline of the bulk-copy kernel's (and the wgmma
GEMM's) calls.

    make gpu-trace          (bench_kernels with -DDS_TRACE, in build/ktrace)
    DS_BENCH_TRACE=tr.txt DS_BENCH_PATHS=q8tma DS_BENCH_TYPES=Q4_0 \\
        DS_BENCH_SHAPES=4 DS_BENCH_BATCHES=1 build/ktrace/bench_kernels
    python3 test/gpu/trace_q8tma.py tr.txt
    python3 test/gpu/trace_q8tma.py --blocks tr.txt   (per block, one call)

For each traced cell (one graph replay of its calls) and each event, the
earliest, median and latest time over the blocks, in us from the first
block start of the call, as the median over the middle calls.  Events
(kernels/matvec_q8tma.cu, kernels/q8mma.cuh): the x kernel's start, end of
its wait for the kernel before and end; the product's block start; its
compute warp 0 after the wait for x, when its k-th step has landed and at the
end; the blocks of the next call.  For the wgmma GEMM (DS_BENCH_PATHS=wgmma):
the x lane after its wait, consumer warpgroup 0 when a unit's W has landed,
at the end of its first range part, after the split-K sums' round trips,
at its end.
"""
import collections
import statistics
import sys

NAMES = [("x kernel started", 3, 20, 0), ("x kernel waited", 3, 21, 0), ("x kernel ended", 3, 22, 0),
         ("product block start", 0, 0, 0), ("copy lane 1st ask", 1, 2, 0), ("x ready (warp 0)", 2, 3, 0),
         ("step 1 landed", 2, 4, 0), ("step 2 landed", 2, 4, 1), ("step 3 landed", 2, 4, 2),
         ("step 4 landed", 2, 4, 3), ("warp 0 end", 2, 11, 0), ("next call's start", 0, 0, 0)]
WG_NAMES = [("product block start", 0, 0, 0), ("W lane 1st ask", 1, 2, 0), ("x lane waited", 3, 21, 0),
            ("unit 1 W landed", 2, 4, 0), ("unit 2 W landed", 2, 4, 1), ("unit 4 W landed", 2, 4, 3),
            ("1st part computed", 2, 6, 0), ("slot counted (not last)", 2, 8, 0), ("last's wait done", 2, 9, 0),
            ("warpgroup 0 end", 2, 11, 0), ("next call's start", 0, 0, 0)]


def per_block(key, ev, c):
    """one call's blocks, sorted by their end: start, compute warp 0's
    (consumer warpgroup 0's) events in time order as event:us, then the
    times the copy lane (W lane) asked for its steps (units)"""
    blocks = sorted({k[1] for k in ev if k[0] == c and k[2] == 0})
    base = min(ev[(c, b, 0)][0][1] for b in blocks)
    print(f"{key}: call {c}, per block (us from the call's first block start), by end")
    out = []
    for b in blocks:
        st = (ev[(c, b, 0)][0][1] - base) / 1e3
        es = sorted(ev.get((c, b, 2), []), key=lambda x: x[1])
        end = max([(t - base) / 1e3 for e, t in es] or [st])
        out.append((end, b, st, es))
    for end, b, st, es in sorted(out):
        evs = " ".join(f"{e}:{(t - base) / 1e3:.1f}" for e, t in es)
        asks = " ".join(f"{(t - base) / 1e3:.1f}" for e, t in sorted(ev.get((c, b, 1), []), key=lambda x: x[1]))
        print(f"  {b:4d} start {st:5.1f}  {evs}  | asked {asks}")


def main(path, by_block=False):
    cells = collections.OrderedDict()
    with open(path) as f:
        for line in f:
            w = line.split()
            key = " ".join(w[:-5])
            c, b, r, e, t = map(int, w[-5:])
            cells.setdefault(key, collections.defaultdict(list))[(c, b, r)].append((e, t))
    for key, ev in cells.items():
        names = WG_NAMES if key.endswith("wgmma") else NAMES
        calls = sorted({k[0] for k in ev if k[2] == 0})
        mid = calls[2:-2] if len(calls) > 6 else calls[:-1]
        if by_block:
            per_block(key, ev, mid[len(mid) // 2])
            continue
        rows = collections.defaultdict(list)
        for c in mid:
            blocks = sorted({k[1] for k in ev if k[0] == c and k[2] == 0})
            xblocks = sorted({k[1] for k in ev if k[0] == c and k[2] == 3})
            base = min(ev[(c, b, 0)][0][1] for b in blocks)
            for name, role, e, nth in names:
                cc = c + 1 if name.startswith("next") else c
                vals = []
                for b in (xblocks if role == 3 else blocks):
                    ts = [t for (ee, t) in ev.get((cc, b, role), []) if ee == e]
                    if len(ts) > nth:
                        vals.append((ts[nth] - base) / 1e3)
                if vals:
                    vals.sort()
                    rows[name].append((vals[0], vals[len(vals) // 2], vals[-1]))
        print(f"{key}: {len(mid)} calls, us from the call's first block start (earliest / median / latest block)")
        for name, *_ in names:
            if rows[name]:
                lo, me, hi = (statistics.median(x[i] for x in rows[name]) for i in range(3))
                print(f"  {name:22s} {lo:8.2f} {me:8.2f} {hi:8.2f}")


if __name__ == "__main__":
    args = sys.argv[1:]
    bl = "--blocks" in args
    args = [a for a in args if a != "--blocks"]
    if len(args) != 1:
        sys.exit(__doc__)
    main(args[0], bl)
