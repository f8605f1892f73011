"""Helpers shared by the bench/ scripts (bench/s3, bench/edge/run)."""

import os
import shutil
import socket
import subprocess
import sys

# wrk's latency units, in milliseconds
UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def need(exe, pkg):
    """Path of exe, installing the Debian package pkg when it is missing."""
    if not shutil.which(exe) and not os.access(f"/usr/sbin/{exe}", os.X_OK):
        print(f"{exe} missing: apt-get install -y {pkg}", file=sys.stderr)
        subprocess.run(["apt-get", "install", "-y", "-q", pkg], check=True)
    return shutil.which(exe) or f"/usr/sbin/{exe}"


def proc_cpu(root_pid):
    """CPU seconds (user + system) of root_pid and its live children (nginx
    workers); per request it does not depend on how busy the shared machine
    is, unlike requests/s."""
    tck = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                st = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(d) == root_pid or int(st[1]) == root_pid:
            total += (int(st[11]) + int(st[12])) / tck
    return total
