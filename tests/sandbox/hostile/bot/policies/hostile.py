"""A team that attacks its sandbox: `mode` picks the attack, `at` the interval it starts.
Used by tests/sandbox/test_hostile.py; every attack must be contained."""

import os
import socket
import subprocess
import sys
import time

from policies.policy import Policy

FORGED = '{"ok":true,"action":[5.0,5.0]}'


class Hostile(Policy):
    def __init__(self, mode="idle", at=0, tag="", **kwargs):
        super().__init__()
        self.mode, self.at, self.tag, self.step = mode, at, tag, 0

    def act(self, external_state, internal_state):
        step, self.step = self.step, self.step + 1
        if step < self.at:
            return 0.0, 0.0
        attack = getattr(self, "attack_" + self.mode, None)
        return attack() if attack else (0.0, 0.0)

    def attack_fork_bomb(self):
        while True:
            os.fork()

    def attack_memory_hog(self):
        hoard = []
        while True:
            hoard.append(b"x" * (32 << 20))  # written, so the pages are really used

    def attack_sleep(self):
        time.sleep(10_000)

    def attack_stubborn_sleep(self):
        while True:  # swallows the cooperative timer: only the hard kill ends this
            try:
                time.sleep(10_000)
            except BaseException:
                pass

    def attack_flood(self):
        for _ in range(2000):
            print(FORGED)
        sys.stdout.flush()
        os.write(1, (FORGED + "\n").encode())
        os.system("echo '" + FORGED + "'")
        return 0.0, 0.0

    def attack_crash(self):
        print("about to fail at interval", self.step - 1, flush=True)
        raise ValueError("team bug: division of the forecast went wrong")

    def attack_nan(self):
        return float("nan"), 1.0

    def attack_huge_int(self):
        return 10**4000, 1.0  # finite, exact, and no battery

    def attack_huge_float(self):
        return 0.0, -1e308

    def attack_string(self):
        return "charge", 1.0

    def attack_exit(self):
        os._exit(3)

    def attack_daemon(self):
        # A survivor in a session of its own: killing the policy's process group misses it.
        subprocess.Popen([sys.executable, "-c", "import time; time.sleep(1000)", self.tag],
                         start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return 0.0, 0.0


class SlowStart(Policy):
    def __init__(self, **kwargs):
        super().__init__()
        time.sleep(10_000)


class Prober(Policy):
    """Well-behaved, but curious: reports what it can reach instead of an action (the tests
    drive it directly); with report=False it only returns 0, 0."""

    def __init__(self, report=True, secret_name="", host_path="", future="", host_paths=(), **kwargs):
        super().__init__()
        self.report, self.secret_name, self.host_path, self.future = report, secret_name, host_path, future
        self.host_paths = list(host_paths)
        self.history_rows = 0
        self.history_last = ""

    def load_historical(self, external_states):
        self.history_rows = len(external_states)
        self.history_last = str(external_states["timestamp"].iloc[-1]) if len(external_states) else ""

    def act(self, external_state, internal_state):
        if not self.report:
            return 0.0, 0.0
        return {
            "uid": os.getuid(),
            "gid": os.getgid(),
            "cap_eff": _status("CapEff"),
            "no_new_privs": _status("NoNewPrivs"),
            "network": _network(),
            "writable": [p for p in ("/", "/opt/team/bot", "/opt/arena/battery_sim", "/home/arena", "/data",
                                     "/run/arena", "/etc", "/usr") if _can_write(p)],
            "tmp_writable": _can_write("/tmp"),
            "tmp_exec": _can_exec_in_tmp(),
            "env": sorted(os.environ),
            "secret_in_env": bool(self.secret_name) and any(self.secret_name in v for v in _all_environs()),
            "host_path_visible": bool(self.host_path) and os.path.exists(self.host_path),
            "future_files": _files_containing(self.future) if self.future else [],
            "history_rows": self.history_rows,
            "history_last": self.history_last,
            "observation_time": external_state["timestamp"],
            "mounts": _mounts(),
            "visible_host_paths": [p for p in self.host_paths if os.path.lexists(p)],
            "docker_socket": any(os.path.exists(p) for p in ("/var/run/docker.sock", "/run/docker.sock")),
            "processes": len([p for p in os.listdir("/proc") if p.isdigit()]),
            "command_lines": _command_lines(),
            "new_user_namespace": _new_user_namespace(),
        }


def _status(key):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return line.split(":", 1)[1].strip()
    return None


def _network():
    reached = []
    for family, address in ((socket.AF_INET, ("1.1.1.1", 53)), (socket.AF_INET, ("172.17.0.1", 2375)),
                            (socket.AF_INET6, ("2606:4700:4700::1111", 53))):
        try:
            with socket.socket(family, socket.SOCK_STREAM) as s:
                s.settimeout(1)
                s.connect(address)
                reached.append(str(address))
        except OSError:
            pass
    try:
        socket.getaddrinfo("example.com", 443)
        reached.append("dns")
    except OSError:
        pass
    interfaces = [name for name in os.listdir("/sys/class/net") if name != "lo"] if os.path.isdir("/sys/class/net") else []
    return {"reached": reached, "interfaces": interfaces}


def _can_write(folder):
    path = os.path.join(folder, ".probe-%d" % os.getpid())
    try:
        with open(path, "w") as f:
            f.write("x")
        os.remove(path)
        return True
    except OSError:
        return False


def _can_exec_in_tmp():
    path = "/tmp/probe.sh"
    try:
        with open(path, "w") as f:
            f.write("#!/bin/sh\nexit 0\n")
        os.chmod(path, 0o755)
        return subprocess.run([path]).returncode == 0
    except OSError:
        return False


def _all_environs():
    values = [f"{k}={v}" for k, v in os.environ.items()]
    for pid in [p for p in os.listdir("/proc") if p.isdigit()]:
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:
                values.append(f.read().decode(errors="replace"))
        except OSError:
            pass
    return values


def _files_containing(needle):
    found = []
    for top in ("/data", "/tmp", "/opt", "/home", "/run", "/srv", "/mnt", "/var", "/root"):
        for folder, _, files in os.walk(top):
            for name in files:
                path = os.path.join(folder, name)
                try:
                    with open(path, "rb") as f:
                        if needle.encode() in f.read(50_000_000):
                            found.append(path)
                except OSError:
                    pass
    return found


def _command_lines():
    lines = []
    for pid in [p for p in os.listdir("/proc") if p.isdigit()]:
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                lines.append(f.read().replace(b"\0", b" ").decode(errors="replace"))
        except OSError:
            pass
    return lines


CLONE_NEWUSER, CLONE_NEWNS, SIGCHLD = 0x10000000, 0x00020000, 17
SYS_CLONE = {"x86_64": 56, "aarch64": 220}


def _new_user_namespace():
    """Which ways of making a user namespace work: in one, a process holds every capability over
    it and can mount a tmpfs of any size (host memory no rlimit counts) and reach much more of the
    kernel. Each try runs in a child that exits at once."""
    import ctypes
    import platform

    libc = ctypes.CDLL(None, use_errno=True)
    tries = {"unshare": lambda: libc.unshare(CLONE_NEWUSER | CLONE_NEWNS) == 0,
             "unshare(1)": lambda: subprocess.run(["unshare", "--user", "true"], stderr=subprocess.DEVNULL,
                                                  timeout=20).returncode == 0}
    number = SYS_CLONE.get(platform.machine())
    if number is not None:  # a raw clone with the flag: the child returns 0, the parent its pid
        tries["clone"] = lambda: _raw_clone(libc, number)
    worked = []
    for name, attempt in tries.items():
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:
            try:
                os.write(write, b"y" if attempt() else b"n")
            finally:
                os._exit(0)
        os.close(write)
        answer = os.read(read, 1)
        os.close(read)
        os.waitpid(pid, 0)
        if answer == b"y":
            worked.append(name)
    return worked


def _raw_clone(libc, number):
    pid = libc.syscall(number, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0)
    if pid == 0:
        os._exit(0)  # the namespaced child: it existed, that is the answer
    if pid < 0:
        return False
    os.waitpid(pid, 0)
    return True


def _mounts():
    with open("/proc/self/mounts") as f:
        return [line.split()[1] for line in f]
