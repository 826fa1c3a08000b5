"""The `process` backend's jail. `unshare` (process.py) gives it fresh pid, mount, network, IPC
and UTS namespaces; it forks pid 1 of the new pid namespace, which builds a root of its own and
execs the agent in it, and waits for it, ending as it did (killed by a signal: the same signal).

    python -I jail.py STATUS_FD SPEC_JSON

The fork is ours, not `unshare --fork`'s: that one now and then failed on a loaded machine
("sigprocmask unblock failed") after the agent had started, and the team's run was lost.

The new root is a tmpfs holding read-only binds of the system's /usr and /lib, Python's own
prefix, battery_sim, the team's folder and the history file, at the paths layout.py names, plus
a private /proc, a minimal /dev and a small writable /tmp. `pivot_root` and a detached unmount
drop the host's tree, so the store, the data file, other teams' checkouts, the Docker socket and
the organiser's home do not exist in there. Then: no capabilities left (bounding set emptied),
no_new_privs, no new user namespace (a seccomp filter), a uid of its own when arena runs as root (so RLIMIT_NPROC counts this run alone),
rlimits, a scrubbed environment, exec. Stdlib only, and it must stay that way: it runs before
anything of the team's and is the last code of arena's the agent's process runs.
"""

from __future__ import annotations

import ctypes
import json
import os
import platform
import resource
import signal
import sys

MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 16384, 1 << 18
MNT_DETACH = 2
PR_SET_PDEATHSIG, PR_CAPBSET_DROP, PR_SET_SECCOMP, PR_SET_NO_NEW_PRIVS = 1, 24, 22, 38
SYS_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41}
# Per architecture: (AUDIT_ARCH, unshare, clone, clone3).
SECCOMP_ARCH = {"x86_64": (0xC000003E, 272, 56, 435), "aarch64": (0xC00000B7, 97, 220, 435)}
CLONE_NEWUSER = 0x10000000
SYSTEM_DIRS = ("/usr", "/lib", "/lib64", "/lib32", "/bin", "/sbin")
DEVICES = ("null", "zero", "full", "random", "urandom")

_libc = ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    enc = (lambda s: None if s is None else s.encode())
    _check(_libc.mount(enc(source), enc(target), enc(fstype), ctypes.c_ulong(flags), enc(data)), f"mount {target}")


def _bind_readonly(source: str, target: str) -> None:
    _mount(source, target, None, MS_BIND | MS_REC)
    locked = os.statvfs(source).f_flag & (MS_NOSUID | MS_NODEV | MS_NOEXEC)  # a user namespace must keep these
    _mount(None, target, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV | locked)


def _place(root: str, source: str, target: str) -> None:
    """`source` (a directory, a file or a link) at `target` inside `root`, read-only."""
    inside = root + target
    os.makedirs(os.path.dirname(inside), mode=0o755, exist_ok=True)
    if os.path.islink(source) and target in SYSTEM_DIRS:  # merged /usr: /bin -> usr/bin
        os.symlink(os.readlink(source), inside)
        return
    if os.path.isdir(source):
        os.makedirs(inside, mode=0o755, exist_ok=True)
    else:
        open(inside, "w").close()
    _bind_readonly(source, inside)


def _write(path: str, text: str) -> None:
    os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
    with open(path, "w") as handle:
        handle.write(text)


def build_root(spec: dict) -> None:
    root = spec["root"]
    _mount(None, "/", None, MS_REC | MS_PRIVATE)
    _mount("tmpfs", root, "tmpfs", MS_NOSUID | MS_NODEV, "size=4m,mode=0755")
    # The writable /tmp first: arena's own Python may live under the host's /tmp (a venv in a fresh
    # clone), and its bind must sit on top of this tmpfs, not be hidden under it.
    work = root + spec["work_dir"]
    os.makedirs(work, mode=0o1777, exist_ok=True)
    _mount("tmpfs", work, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, f"size={spec['tmpfs_bytes']},mode=1777")
    for path in SYSTEM_DIRS:
        if os.path.lexists(path):
            _place(root, path, path)
    for path in spec["python_dirs"]:
        _place(root, path, path)
    for source, target in spec["binds"]:
        _place(root, source, target)
    dev = root + "/dev"
    os.makedirs(dev, mode=0o755, exist_ok=True)
    _mount("tmpfs", dev, "tmpfs", MS_NOSUID | MS_NOEXEC, "size=64k,mode=0755")
    for name in DEVICES:
        open(f"{dev}/{name}", "w").close()
        _mount(f"/dev/{name}", f"{dev}/{name}", None, MS_BIND)
    for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"),
                         ("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2")):
        os.symlink(target, f"{dev}/{name}")
    os.makedirs(f"{dev}/shm", mode=0o1777)
    _mount("tmpfs", f"{dev}/shm", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, f"size={spec['tmpfs_bytes']},mode=1777")
    os.makedirs(root + "/proc", mode=0o555)
    _mount("proc", root + "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    uid = spec["uid"] or 0
    _write(root + "/etc/passwd", f"root:x:0:0::/root:/bin/false\nsandbox:x:{uid}:{uid}::/tmp:/bin/false\n")
    _write(root + "/etc/group", f"root:x:0:\nsandbox:x:{uid}:\n")
    _write(root + "/etc/hosts", "127.0.0.1 localhost sandbox\n")
    os.makedirs(root + "/.old", mode=0o700)

    os.chdir(root)
    number = SYS_PIVOT_ROOT.get(platform.machine())
    if number is None:
        raise OSError(f"pivot_root: no syscall number known for {platform.machine()}")
    _check(_libc.syscall(number, b".", b".old"), "pivot_root")
    os.chdir("/")
    _check(_libc.umount2(b"/.old", MNT_DETACH), "umount the host's root")
    os.rmdir("/.old")
    _mount(None, "/", None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV, "size=4m,mode=0755")


def drop_privileges(spec: dict) -> None:
    for cap in range(64):  # every capability out of the bounding set: exec as uid 0 gains none
        if _libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 and ctypes.get_errno() == 22:
            break  # EINVAL: past the kernel's last capability
    uid = spec["uid"]
    if uid:
        os.setgroups([])
        os.setresgid(uid, uid, uid)
        os.setresuid(uid, uid, uid)
    _check(_libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")
    refuse_user_namespaces()


def refuse_user_namespaces() -> None:
    """A seccomp filter that refuses only new user namespaces. In one, a process holds every
    capability over it whatever the bounding set says: it could mount a tmpfs of any size (host
    memory that no rlimit counts) and reach kernel code meant for root. So `unshare` and `clone`
    with CLONE_NEWUSER fail with EPERM; `clone3`, whose flags a filter cannot read, says ENOSYS
    (libc then falls back to `clone`); another ABI's calls (i386 `int 0x80`, x32) fail with EPERM.
    Everything else is allowed: this is one door shut, not a system-call filter."""
    arch, unshare, clone, clone3 = SECCOMP_ARCH.get(platform.machine(), (None,) * 4)
    if arch is None:
        raise OSError(f"seccomp: no system call numbers known for {platform.machine()}")
    ld, jeq, jge, jset, ret = 0x20, 0x15, 0x35, 0x45, 0x06  # BPF_LD|W|ABS, BPF_JMP|K ops, BPF_RET|K
    allow, eperm, enosys = 0x7FFF0000, 0x00050000 | 1, 0x00050000 | 38
    program = [  # (code, jump if true, jump if false, k); seccomp_data: nr @0, arch @4, args[0] @16
        (ld, 0, 0, 4), (jeq, 1, 0, arch), (ret, 0, 0, eperm),
        (ld, 0, 0, 0), (jge, 0, 1, 0x40000000), (ret, 0, 0, eperm),
        (jeq, 0, 1, clone3), (ret, 0, 0, enosys),
        (jeq, 1, 0, unshare), (jeq, 0, 3, clone),
        (ld, 0, 0, 16), (jset, 0, 1, CLONE_NEWUSER), (ret, 0, 0, eperm),
        (ret, 0, 0, allow),
    ]

    class Filter(ctypes.Structure):
        _fields_ = [("code", ctypes.c_ushort), ("jt", ctypes.c_ubyte), ("jf", ctypes.c_ubyte), ("k", ctypes.c_uint32)]

    class Program(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(Filter))]

    filters = (Filter * len(program))(*[Filter(*line) for line in program])
    _check(_libc.prctl(PR_SET_SECCOMP, 2, ctypes.byref(Program(len(program), filters)), 0, 0), "seccomp")


def apply_limits(spec: dict) -> None:
    for name, value in spec["rlimits"].items():
        resource.setrlimit(getattr(resource, name), (value, value))


def main(argv: list[str]) -> None:
    """Tells the host on STATUS_FD: "ok" just before the exec, or why the jail could not be built
    (arena's failure, not the team's: no team code has run yet)."""
    status, spec = int(argv[1]), json.loads(argv[2])
    child = os.fork()
    if child:
        os.close(status)
        _wait_as(child)
    try:
        build_root(spec)
        drop_privileges(spec)
        apply_limits(spec)
        os.chdir(spec["cwd"])
        for path in (spec["command"][0], spec["agent"]):  # arena's own parts, checked as the run's user
            if not os.access(path, os.R_OK | (os.X_OK if path == spec["command"][0] else 0)):
                raise OSError(f"{path} cannot be reached inside the jail")
        # Set last (a change of credentials clears it): the jail's parent killed by arena kills
        # pid 1, and with it every process of the namespace, even one in a session of its own.
        # (Killed before this line, it still dies: arena kills the jail's whole process group.)
        _check(_libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0), "parent-death signal")
    except OSError as exc:
        os.write(status, f"could not build the process sandbox: {exc}\n".encode())
        os._exit(125)
    os.write(status, b"ok\n")
    os.close(status)
    os.execve(spec["command"][0], spec["command"], spec["environment"])


def _wait_as(child: int) -> None:
    """Wait for pid 1 and end the same way: its exit code, or the signal that killed it."""
    _, status = os.waitpid(child, 0)
    if os.WIFSIGNALED(status):
        number = os.WTERMSIG(status)
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        if number not in (signal.SIGKILL, signal.SIGSTOP):  # those two have no handler to reset
            signal.signal(number, signal.SIG_DFL)
        os.kill(os.getpid(), number)
    os._exit(os.waitstatus_to_exitcode(status))


if __name__ == "__main__":
    main(sys.argv)
