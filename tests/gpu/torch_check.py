"""torch_check.py — PyTorch inside a soft instance on a real GPU.

  torch_check.py memory <limit-bytes>   the instance's size as PyTorch sees it,
                                        allocation up to it and failure beyond
  torch_check.py mm [<warmup>] <seconds> matrix multiplies for warmup + seconds; prints
                                        "iters N rate R" for the last seconds
"""
import sys
import time

import torch


def memory(limit):
    free, total = torch.cuda.mem_get_info()
    ok = True

    def check(cond, what):
        nonlocal ok
        print(("ok - " if cond else "FAIL - ") + "gpu torch: " + what)
        ok = ok and cond

    check(total == limit, f"mem_get_info total {total} == {limit}")
    held, chunk = [], 1 << 30
    while chunk >= (2 << 20):
        try:
            held.append(torch.empty(chunk, dtype=torch.uint8, device="cuda"))
        except torch.cuda.OutOfMemoryError:
            chunk //= 2
    got = sum(t.numel() for t in held)
    check(got <= limit, f"holds {got} <= quota")
    check(got > limit - (1 << 30), f"holds most of the quota ({got})")
    try:
        torch.empty(256 << 20, dtype=torch.uint8, device="cuda")
        check(False, "allocation beyond the quota fails")
    except torch.cuda.OutOfMemoryError:
        check(True, "allocation beyond the quota fails")
    return 0 if ok else 1


def mm(warmup, seconds):
    a = torch.randn(4096, 4096, device="cuda")
    b = torch.randn(4096, 4096, device="cuda")
    iters, counted, t0 = 0, 0, time.monotonic()
    tw = t0 + warmup
    measuring = warmup <= 0
    while time.monotonic() - t0 < warmup + seconds:
        for _ in range(4):
            a @ b
        iters += 4
        torch.cuda.synchronize()
        if not measuring and time.monotonic() >= tw:
            measuring, counted, tw = True, iters, time.monotonic()
    span = time.monotonic() - tw
    print(f"iters {iters - counted} rate {(iters - counted) / span:.2f}")
    return 0


if __name__ == "__main__":
    if sys.argv[1] == "memory":
        sys.exit(memory(int(sys.argv[2])))
    args = [float(x) for x in sys.argv[2:4]]
    sys.exit(mm(*args) if len(args) == 2 else mm(0, args[0]))
