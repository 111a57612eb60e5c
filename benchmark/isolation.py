"""How a sandboxed worker is confined, and which processes are its own.

Where bubblewrap (Debian `bubblewrap`) works, the process gets a new network namespace with no
interfaces, its own pid namespace, no capabilities (`--cap-drop ALL`: run as root, bubblewrap
would otherwise leave the submission free to unmount what hides the ground truth) and a
filesystem built from an allowlist: the system's programs and libraries, the Python
environment, the package (its ground truth covered by an empty folder), the folders the caller
names as readable (the submission's own folder, the suite, the harness's inputs), all
read-only, and one writable scratch folder (also its TMPDIR and HOME). Everything else (`.git`,
other submissions and checkouts, the user's caches, the job store) is absent. Without
bubblewrap, `unshare -rn` still takes the network away but hides nothing and protects nothing
on disk. `isolation()` says which mode this machine gets, and every entry records it.
The limits themselves (`Limits`) are enforced by `benchmark.sandbox` in every mode.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from .store import CACHE_VARIABLE, default_cache

PACKAGE_ROOT = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Limits:
    """Per-submission limits: `seconds` for each request, `memory_mb` of memory held by the worker's
    process tree."""

    seconds: float = 900.0
    memory_mb: int = 8192


@dataclass(frozen=True)
class Isolation:
    tool: str  # "bubblewrap", "unshare" or "none"
    network: bool
    hides_ground_truth: bool

    def describe(self) -> str:
        return (f"{self.tool}: network {'blocked' if self.network else 'NOT blocked'}, ground truth "
                f"{'hidden' if self.hides_ground_truth else 'NOT hidden'}, time and memory limits enforced")


ISOLATION_TOOLS = ("bubblewrap", "unshare", "none")  # strongest first


def weakest(tools) -> str:
    """The weakest of several isolation modes: what an entry assembled from results of several runs can claim
    (an unknown mode counts as weaker than all)."""
    return max(tools, key=lambda t: ISOLATION_TOOLS.index(t) if t in ISOLATION_TOOLS else len(ISOLATION_TOOLS))


# namespaces and privileges of every bubblewrap sandbox (the probe runs with them too)
BWRAP_FLAGS = ("--unshare-net", "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--cap-drop", "ALL",
               "--die-with-parent")
# the system's programs and libraries, read-only; a merged-/usr link (/lib -> usr/lib) is kept a link
SYSTEM_PATHS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
# what the dynamic linker and Python's standard library read of /etc; nothing else of it is visible
ETC_FILES = ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "localtime", "nsswitch.conf", "passwd", "group",
             "hosts", "host.conf", "mime.types")
# environment variables a submission never gets (credentials the harness's own environment may hold)
SECRET_VARIABLE = re.compile(r"TOKEN|SECRET|PASSWORD|CREDENTIAL|AUTH|(^|_)KEY($|_)", re.IGNORECASE)
# caches libraries create on import, by the variable naming their folder: the worker's go to its scratch folder
SCRATCH_CACHES = {"TORCHINDUCTOR_CACHE_DIR": "torchinductor", "TRITON_CACHE_DIR": "triton", "HF_HOME": "huggingface",
                  "MPLCONFIGDIR": "matplotlib"}


def _works(argv: list[str]) -> bool:
    try:
        return subprocess.run(argv + ["true"], capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@functools.cache
def isolation() -> Isolation:
    """The strongest isolation that actually runs on this machine (probed once per process)."""
    if os.environ.get("WILLITMERGE_SANDBOX") != "none":
        bwrap = shutil.which("bwrap")
        if bwrap and _works([bwrap, *_filesystem([], [], []), *BWRAP_FLAGS, "--"]):
            return Isolation("bubblewrap", True, True)
        unshare = shutil.which("unshare")
        if unshare and _works([unshare, "-rn", "--"]):
            return Isolation("unshare", True, False)
    return Isolation("none", False, False)


def python_environment() -> list[Path]:
    """The folders the running Python and its packages live in (a venv and the interpreter it was made from)."""
    found = {Path(p).resolve() for p in (sys.prefix, sys.exec_prefix, sys.base_prefix, sys.base_exec_prefix)}
    found.add(Path(sys.executable).resolve().parent.parent)
    return sorted(found)


def _filesystem(writable: list[Path], readable: list[Path], hidden: list[Path]) -> list[str]:
    """bubblewrap's mounts: an allowlist, read-only but for `writable`, with empty folders (or /dev/null)
    over the `hidden` paths that fall inside what is visible."""
    args = []
    for path in map(Path, SYSTEM_PATHS):
        if path.is_symlink():
            args += ["--symlink", os.readlink(path), str(path)]
        elif path.is_dir():
            args += ["--ro-bind", str(path), str(path)]
    for name in ETC_FILES:
        args += ["--ro-bind-try", f"/etc/{name}", f"/etc/{name}"]
    args += ["--dev", "/dev", "--proc", "/proc", "--ro-bind-try", "/sys", "/sys"]
    visible = sorted({Path(p).resolve() for p in [*python_environment(), PACKAGE_ROOT, *readable]},
                     key=lambda p: len(p.parts))  # a folder before what is mounted inside it
    for path in visible:
        if path.exists():
            args += ["--ro-bind", str(path), str(path)]
    for path in sorted({Path(p).resolve() for p in hidden}):
        if not any(path.is_relative_to(v) for v in visible):
            continue  # not mounted, so not there
        if path.is_dir():
            args += ["--tmpfs", str(path), "--remount-ro", str(path)]
        elif path.exists():
            args += ["--ro-bind", "/dev/null", str(path)]
    for path in writable:
        args += ["--bind", str(Path(path).resolve()), str(Path(path).resolve())]
    return args + ["--remount-ro", "/"]


def _wrap(argv: list[str], writable: list[Path], hidden: list[Path], readable: list[Path] = ()) -> list[str]:
    mode = isolation()
    if mode.tool == "bubblewrap":
        chdir = ["--chdir", str(Path(writable[0]).resolve())] if writable else []
        return [shutil.which("bwrap"), *_filesystem(writable, readable, hidden), *BWRAP_FLAGS, *chdir, "--"] + argv
    if mode.tool == "unshare":
        return [shutil.which("unshare"), "-rn", "--"] + argv
    return argv


def _children() -> dict[int, list[int]]:
    """Every process's children, from each /proc/PID/stat's parent id."""
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                with open(f"/proc/{entry.name}/stat", "rb") as fh:
                    parent = int(fh.read().rsplit(b")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue  # gone meanwhile
            children.setdefault(parent, []).append(int(entry.name))
    return children


def process_tree(root: int) -> list[int]:
    """`root` and all its descendants, parents first (a process that left its group or session is still
    here; one that daemonized out of the tree is not, but in bubblewrap's pid namespace none can)."""
    children, tree = _children(), [root]
    for pid in tree:
        tree += children.get(pid, [])
    return tree


def _status_kb(pid: int, fields: tuple[str, ...]) -> dict[str, int]:
    found = {}
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                name, _, value = line.partition(":")
                if name in fields:
                    found[name] = int(value.split()[0])
    except (OSError, ValueError):
        pass
    return found


def _environment(scratch: Path | None) -> dict[str, str]:
    """The worker's environment: the harness's without credentials, the package importable, caches and
    temporary files in the scratch folder, and the job cache where the harness has it (a suite's pinned
    base lives there)."""
    env = {k: v for k, v in os.environ.items() if not SECRET_VARIABLE.search(k)}
    env |= {"PYTHONPATH": str(PACKAGE_ROOT.parent), "PYTHONDONTWRITEBYTECODE": "1",
            CACHE_VARIABLE: str(default_cache())}
    if scratch is not None:
        scratch = Path(scratch).resolve()
        env |= {"TMPDIR": str(scratch), "HOME": str(scratch), "XDG_CACHE_HOME": str(scratch / ".cache")}
        # caches whose folder the harness's own environment may name (torch writes its choice into os.environ)
        env |= {name: str(scratch / ".cache" / folder) for name, folder in SCRATCH_CACHES.items()}
    return env
