"""Run untrusted submission code in its own process: a time limit, a memory limit, no network,
and nothing but its inputs in sight.

Where bubblewrap (Debian `bubblewrap`) works, the process gets a new network namespace with no
interfaces, its own pid namespace, no capabilities (`--cap-drop ALL`: run as root, bubblewrap
would otherwise leave the submission free to unmount what hides the ground truth) and a
filesystem built from an allowlist: the system's programs and libraries, the Python
environment, the package (its ground truth covered by an empty folder), the folders the caller
names as readable (the submission's own folder, the suite, the harness's inputs), all
read-only, and one writable scratch folder (also its TMPDIR and HOME). Everything else (`.git`,
other submissions and checkouts, the user's caches, the job store) is absent. Without
bubblewrap, `unshare -rn` still takes the network away but hides nothing and protects nothing
on disk. Memory is capped on what the worker's whole process tree holds (anonymous and shared pages), read by the
parent while it works (an address-space rlimit of ADDRESS_SPACE_FACTOR times that is only a
backstop: torch and mmap reserve far more address space than they touch, so a limit on it
refused mergekit's merge of two smol experts), and time by a wall-clock deadline; past
either the whole process tree is killed; both hold in every mode. `isolation()`
says which mode this machine gets, and every entry records it.

What a request cost is measured here, in the parent, never taken from the worker's answer: the
wall clock from sending the request to reading the answer, and the peak memory the worker's whole
process tree holds (anonymous and shared pages; mapped files are page cache), read from the kernel
(`/proc/PID/status`) every SAMPLE_SECONDS while it runs. Between
requests the tree is stopped (SIGSTOP), so no work can hide between two measured requests.

The worker speaks JSON lines on a private pipe (its stdout is pointed at stderr), so a
submission that prints cannot corrupt the protocol.
"""

from __future__ import annotations

import functools
import json
import os
import re
import resource
import select
import shutil
import signal
import subprocess
import sys
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .store import CACHE_VARIABLE, default_cache

PACKAGE_ROOT = Path(__file__).resolve().parent
# An answer longer than this is no answer: the parent never buffers more of a worker's output.
MAX_ANSWER_BYTES = 64 * 1024 ** 2
ERROR_KINDS = ("raised", "memory")  # what `serve` reports; anything else on the pipe is forged


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


class SubmissionFailed(RuntimeError):
    """A submission that raised, timed out, ran out of memory or answered wrongly; `reason` says which."""

    def __init__(self, kind: str, reason: str):
        super().__init__(f"{kind}: {reason}")
        self.kind, self.reason = kind, reason


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
ADDRESS_SPACE_FACTOR = 8
SAMPLE_SECONDS = 0.1  # how often the worker's memory is read while it works


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


@dataclass(frozen=True)
class Usage:
    """What the parent measured of one request: wall-clock seconds from sending it to reading the answer,
    and the peak memory (MB) the worker's process tree held since it started."""

    seconds: float
    peak_rss_mb: float


class SandboxedWorker:
    """One worker process for one submission; `request()` sends a JSON message and waits for the answer,
    and leaves what it cost in `usage`.

    `writable[0]` is the scratch folder (TMPDIR and HOME); `readable` are the folders it may read besides
    the Python environment and the package; `hidden` are covered where they fall inside those."""

    def __init__(self, module: str, limits: Limits, writable: list[Path], hidden: list[Path],
                 env: dict[str, str] | None = None, readable: list[Path] = ()):
        self.limits = limits
        read_fd, write_fd = os.pipe()
        argv = [sys.executable, "-m", module, str(write_fd)]
        memory = ADDRESS_SPACE_FACTOR * limits.memory_mb * 1024 * 1024

        def limit_memory():
            resource.setrlimit(resource.RLIMIT_AS, (memory, memory))

        self._stderr: deque[str] = deque(maxlen=40)
        self._peak_kb = 0
        self.usage: Usage | None = None
        self.process = subprocess.Popen(
            _wrap(argv, writable, hidden, readable), stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE, pass_fds=(write_fd,), preexec_fn=limit_memory, start_new_session=True,
            env=_environment(writable[0] if writable else None) | (env or {}))
        os.close(write_fd)
        self._answers, self._pending = read_fd, bytearray()
        os.set_blocking(read_fd, False)
        os.set_blocking(self.process.stderr.fileno(), False)

    def _signal(self, sig: int) -> None:
        """`sig` to the worker's process group and to every process of its tree, parents first, until no
        new process shows up (one forked while its parent was being stopped)."""
        if self.process.returncode is not None:
            return  # reaped: its pid may belong to another process by now
        try:
            os.killpg(self.process.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass
        signalled: set[int] = set()
        for _ in range(5):
            fresh = [pid for pid in process_tree(self.process.pid) if pid not in signalled]
            if not fresh:
                return
            for pid in fresh:
                try:
                    os.kill(pid, sig)
                except (ProcessLookupError, PermissionError):
                    pass
            signalled.update(fresh)

    def _sample(self) -> None:
        """The memory the tree holds now: anonymous and shared-memory pages. File pages a worker maps (the
        experts' safetensors) are page cache the kernel can drop, so they are neither counted nor limited."""
        fields = ("RssAnon", "RssShmem")
        held = sum(sum(_status_kb(pid, fields).values()) for pid in process_tree(self.process.pid))
        self._peak_kb = max(self._peak_kb, held)

    def _measured(self, started: float) -> None:
        seconds = time.perf_counter() - started
        self._sample()
        self._signal(signal.SIGSTOP)  # no work between requests: the next request's clock sees all of its own
        self.usage = Usage(round(seconds, 4), round(self._peak_kb / 1024, 1))

    def request(self, message: dict[str, Any]) -> dict[str, Any]:
        """The worker's answer (a JSON object), or SubmissionFailed naming what went wrong (the worker is
        then closed). The answer is read in bounded chunks under the deadline, so a worker that writes
        without end, never ends its line, or writes between requests cannot stall or flood the parent."""
        if self._pending or self._read_chunk(eof_ok=True):
            self._invalid("wrote to the answer pipe between requests")
        self._signal(signal.SIGCONT)
        started = time.perf_counter()
        try:
            self.process.stdin.write((json.dumps(message) + "\n").encode())
            self.process.stdin.flush()
        except BrokenPipeError:
            self._fail_from_exit()
        deadline = time.monotonic() + self.limits.seconds
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.close()
                raise SubmissionFailed("timeout", f"no answer within the time limit of {self.limits.seconds:g} s")
            ready, _, _ = select.select([self._answers, self.process.stderr], [], [], min(remaining, SAMPLE_SECONDS))
            self._sample()
            if self._peak_kb > self.limits.memory_mb * 1024:
                self.close()
                raise SubmissionFailed("memory", f"the worker's processes held {self._peak_kb // 1024} MB, "
                                                 f"over the memory limit of {self.limits.memory_mb} MB")
            if self.process.stderr in ready:
                self._drain_stderr()
            if self._answers in ready:
                chunk = self._read_chunk()
                if not chunk:
                    self._fail_from_exit()
                self._pending += chunk
                if b"\n" in chunk:
                    line, _, rest = bytes(self._pending).partition(b"\n")
                    if rest:
                        self._invalid("more than one answer to one request")
                    self._pending.clear()
                    self._measured(started)
                    return self._parse(line)
                if len(self._pending) > MAX_ANSWER_BYTES:
                    self._invalid(f"an answer longer than {MAX_ANSWER_BYTES // 2 ** 20} MB")

    def _read_chunk(self, eof_ok: bool = False) -> bytes:
        try:
            return os.read(self._answers, 1 << 20)
        except BlockingIOError:
            return b""
        except OSError:
            return b"" if eof_ok else self._fail_from_exit()

    def _parse(self, line: bytes) -> dict[str, Any]:
        try:
            answer = json.loads(line)
        except (ValueError, RecursionError) as err:
            self._invalid(f"not a JSON answer ({type(err).__name__}: {str(err)[:200]})")
        if not isinstance(answer, dict):
            self._invalid(f"a JSON {type(answer).__name__}, not an object")
        if "error" in answer:
            error = answer["error"]
            if not (isinstance(error, dict) and error.get("kind") in ERROR_KINDS and isinstance(error.get("reason"), str)):
                self._invalid("a malformed error report")
            self.close()
            raise SubmissionFailed(error["kind"], error["reason"][:2000])
        return answer

    def _invalid(self, what: str):
        self.close()
        raise SubmissionFailed("invalid-answer", f"the worker's answer pipe carried {what}; only the harness's "
                                                 "worker loop may write to it")

    def _drain_stderr(self) -> None:
        try:
            chunk = os.read(self.process.stderr.fileno(), 1 << 16)
        except (BlockingIOError, OSError, ValueError):
            return
        if chunk:
            self._stderr.extend(chunk.decode(errors="replace").splitlines())

    def _fail_from_exit(self) -> None:
        try:
            code = self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self._invalid("an end of file while the worker kept running")
        self._drain_stderr()
        tail = " | ".join(line[:300] for line in list(self._stderr)[-3:])
        self.close()
        if code < 0:
            kind = "memory" if code == -signal.SIGKILL else "crashed"
            raise SubmissionFailed(kind, f"worker killed by signal {signal.Signals(-code).name}; last output: {tail}")
        raise SubmissionFailed("crashed", f"worker exited with code {code}; last output: {tail}")

    def close(self) -> None:
        if self.process.poll() is None:
            self._signal(signal.SIGSTOP)  # frozen, nothing forks or is orphaned out of the tree while it dies
            for pid in process_tree(self.process.pid):
                try:
                    os.kill(pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
            self._signal(signal.SIGKILL)
            self.process.wait()
        for stream in (self.process.stdin, self.process.stderr):
            try:
                stream.close()
            except (OSError, ValueError):
                pass
        if self._answers is not None:
            os.close(self._answers)
            self._answers = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def failure_kind(error: BaseException) -> str:
    """How a worker classifies an exception raised by submission code."""
    text = str(error)
    if isinstance(error, MemoryError) or "can't allocate memory" in text or "not enough memory" in text:
        return "memory"
    return "raised"


def serve(handle) -> None:
    """The worker's main loop: `handle(message) -> answer` for each request line until stdin closes.

    An exception in submission code becomes an error answer (and ends the worker); the
    protocol pipe is the fd the parent passed as argv[1], and stdout goes to stderr.
    """
    answers = os.fdopen(int(sys.argv[1]), "w")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    for line in sys.stdin:
        try:
            answer = handle(json.loads(line))
        except BaseException as err:  # noqa: BLE001 - everything a submission raises is reported
            kind, reason = failure_kind(err), f"{type(err).__name__}: {err}".rstrip(": ")[:2000]
            if kind == "memory":
                limit = resource.getrlimit(resource.RLIMIT_AS)[0]
                reason += f" (allocation refused under the address-space backstop of {limit // 2 ** 20} MB)"
            answers.write(json.dumps({"error": {"kind": kind, "reason": reason}}) + "\n")
            answers.flush()
            return
        answers.write(json.dumps(answer) + "\n")
        answers.flush()

