#!/usr/bin/env python3
"""pynvml_walk.py — walks the simulated libnvidia-ml.so.1 with ctypes, as the
Python bindings do: nvmlInitWithFlags(0), devices, MIG mode, GI profiles
through the V calls with versioned structs, placements, create, list and
destroy GIs and CIs, and MIG device handles with their names, UUIDs and
memory.  The state directory comes from VMIG_STATE_DIR (a fresh one, set by
pynvml.sh); the library from argv[1].  Prints one "ok - " / "FAIL - " line
per step.
"""
import ctypes as C
import sys

lib = C.CDLL(sys.argv[1])
lib.nvmlErrorString.restype = C.c_char_p
failed = 0


def step(name, cond, why=""):
    global failed
    if cond:
        print("ok - py/%s" % name)
    else:
        failed += 1
        print("FAIL - py/%s: %s" % (name, why))


def call(fn, *args):
    r = getattr(lib, fn)(*args)
    if r != 0:
        raise RuntimeError("%s: %s" % (fn, lib.nvmlErrorString(r).decode()))


def version(struct, ver):
    return C.sizeof(struct) | (ver << 24)


class GiProfileInfoV2(C.Structure):
    _fields_ = [("version", C.c_uint), ("id", C.c_uint), ("isP2pSupported", C.c_uint),
                ("sliceCount", C.c_uint), ("instanceCount", C.c_uint),
                ("multiprocessorCount", C.c_uint), ("copyEngineCount", C.c_uint),
                ("decoderCount", C.c_uint), ("encoderCount", C.c_uint),
                ("jpegCount", C.c_uint), ("ofaCount", C.c_uint),
                ("memorySizeMB", C.c_ulonglong), ("name", C.c_char * 96)]


class CiProfileInfoV2(C.Structure):
    _fields_ = [("version", C.c_uint), ("id", C.c_uint), ("sliceCount", C.c_uint),
                ("instanceCount", C.c_uint), ("multiprocessorCount", C.c_uint),
                ("sharedCopyEngineCount", C.c_uint), ("sharedDecoderCount", C.c_uint),
                ("sharedEncoderCount", C.c_uint), ("sharedJpegCount", C.c_uint),
                ("sharedOfaCount", C.c_uint), ("name", C.c_char * 96)]


class Placement(C.Structure):
    _fields_ = [("start", C.c_uint), ("size", C.c_uint)]


class GiInfo(C.Structure):
    _fields_ = [("device", C.c_void_p), ("id", C.c_uint), ("profileId", C.c_uint),
                ("placement", Placement)]


class CiInfo(C.Structure):
    _fields_ = [("device", C.c_void_p), ("gpuInstance", C.c_void_p), ("id", C.c_uint),
                ("profileId", C.c_uint), ("placement", Placement)]


class Memory(C.Structure):
    _fields_ = [("total", C.c_ulonglong), ("free", C.c_ulonglong), ("used", C.c_ulonglong)]


def main():
    step("version words", version(GiProfileInfoV2, 2) == 0x02000098 and
         version(CiProfileInfoV2, 2) == 0x02000088)
    call("nvmlInitWithFlags", C.c_uint(0))
    n = C.c_uint()
    call("nvmlDeviceGetCount_v2", C.byref(n))
    step("device count", n.value == 2, n.value)
    names = []
    for i in range(n.value):
        h = C.c_void_p()
        call("nvmlDeviceGetHandleByIndex_v2", C.c_uint(i), C.byref(h))
        buf = C.create_string_buffer(96)
        call("nvmlDeviceGetName", h, buf, C.c_uint(96))
        names.append(buf.value.decode())
    step("device names", names == ["NVIDIA H100 80GB HBM3", "NVIDIA A100-SXM4-40GB"], names)

    dev = C.c_void_p()
    call("nvmlDeviceGetHandleByIndex_v2", C.c_uint(0), C.byref(dev))
    act = C.c_int(-1)
    call("nvmlDeviceSetMigMode", dev, C.c_uint(1), C.byref(act))
    cur, pend = C.c_uint(), C.c_uint()
    call("nvmlDeviceGetMigMode", dev, C.byref(cur), C.byref(pend))
    step("MIG mode enabled", act.value == 0 and cur.value == 1 and pend.value == 1)

    profiles = {}
    for idx in range(0x12):
        info = GiProfileInfoV2(version=version(GiProfileInfoV2, 2))
        r = lib.nvmlDeviceGetGpuInstanceProfileInfoV(dev, C.c_uint(idx), C.byref(info))
        if r == 0:
            profiles[info.id] = (info.name.decode(), info.sliceCount, info.memorySizeMB,
                                 info.instanceCount)
        elif r not in (2, 3):
            step("profile %d" % idx, False, lib.nvmlErrorString(r))
    step("GI profiles", profiles.get(9) == ("MIG 3g.40gb", 3, 40448, 2) and len(profiles) == 7,
         profiles)
    bad = GiProfileInfoV2(version=0x05000098)
    step("wrong struct version",
         lib.nvmlDeviceGetGpuInstanceProfileInfoV(dev, C.c_uint(0), C.byref(bad)) == 25)

    count = C.c_uint(0)
    call("nvmlDeviceGetGpuInstancePossiblePlacements_v2", dev, C.c_uint(19), None,
         C.byref(count))
    pls = (Placement * count.value)()
    call("nvmlDeviceGetGpuInstancePossiblePlacements_v2", dev, C.c_uint(19), pls,
         C.byref(count))
    step("1g placements", [p.start for p in pls] == list(range(7)), [p.start for p in pls])

    gi3, gi1 = C.c_void_p(), C.c_void_p()
    call("nvmlDeviceCreateGpuInstance", dev, C.c_uint(9), C.byref(gi3))
    pl = Placement(start=0, size=1)
    call("nvmlDeviceCreateGpuInstanceWithPlacement", dev, C.c_uint(19), C.byref(pl),
         C.byref(gi1))
    gii = GiInfo()
    call("nvmlGpuInstanceGetInfo", gi3, C.byref(gii))
    step("GI info", gii.profileId == 9 and gii.placement.size == 4 and gii.device == dev.value)
    arr = (C.c_void_p * 2)()
    count = C.c_uint(2)
    call("nvmlDeviceGetGpuInstances", dev, C.c_uint(9), arr, C.byref(count))
    step("list GIs", count.value == 1 and arr[0] == gi3.value)

    cip = CiProfileInfoV2(version=version(CiProfileInfoV2, 2))
    call("nvmlGpuInstanceGetComputeInstanceProfileInfoV", gi3, C.c_uint(0), C.c_uint(0),
         C.byref(cip))
    step("CI profile", cip.name.decode() == "MIG 1c.3g.40gb" and cip.instanceCount == 3,
         cip.name)
    ci_a, ci_b = C.c_void_p(), C.c_void_p()
    call("nvmlGpuInstanceCreateComputeInstance", gi3, C.c_uint(1), C.byref(ci_a))
    call("nvmlGpuInstanceCreateComputeInstance", gi1, C.c_uint(0), C.byref(ci_b))
    cii = CiInfo()
    call("nvmlComputeInstanceGetInfo_v2", ci_a, C.byref(cii))
    step("CI info", cii.gpuInstance == gi3.value and cii.profileId == 1)

    mx = C.c_uint()
    call("nvmlDeviceGetMaxMigDeviceCount", dev, C.byref(mx))
    migs = []
    for i in range(mx.value):
        m = C.c_void_p()
        r = lib.nvmlDeviceGetMigDeviceHandleByIndex(dev, C.c_uint(i), C.byref(m))
        if r == 6:
            continue
        name, uuid, mem = C.create_string_buffer(96), C.create_string_buffer(96), Memory()
        call("nvmlDeviceGetName", m, name, C.c_uint(96))
        call("nvmlDeviceGetUUID", m, uuid, C.c_uint(96))
        call("nvmlDeviceGetMemoryInfo", m, C.byref(mem))
        migs.append((name.value.decode(), uuid.value.decode()[:4], mem.total >> 20))
    step("MIG devices", sorted(migs) == sorted([
        ("NVIDIA H100 80GB HBM3 MIG 1g.10gb", "MIG-", 9984),
        ("NVIDIA H100 80GB HBM3 MIG 2c.3g.40gb", "MIG-", 40448)]), migs)

    step("GI in use", lib.nvmlGpuInstanceDestroy(gi3) == 19)
    call("nvmlComputeInstanceDestroy", ci_a)
    call("nvmlComputeInstanceDestroy", ci_b)
    call("nvmlGpuInstanceDestroy", gi3)
    call("nvmlGpuInstanceDestroy", gi1)
    count = C.c_uint(2)
    call("nvmlDeviceGetGpuInstances", dev, C.c_uint(9), arr, C.byref(count))
    step("all destroyed", count.value == 0)
    step("stale GI handle", lib.nvmlGpuInstanceGetInfo(gi3, C.byref(gii)) == 2)
    call("nvmlShutdown")


try:
    main()
except Exception as e:  # a failed call: one failure line, not a traceback
    print("FAIL - py/walk: %s" % e)
    failed += 1
sys.exit(1 if failed else 0)
