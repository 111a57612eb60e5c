"""Run untrusted submission code in its own process: a time limit, a memory limit, no network,
and the ground truth out of sight.

Where bubblewrap (Debian `bubblewrap`) works, the process gets a new network namespace with no
interfaces, a read-only view of the filesystem with empty folders laid over the ground truth
and the result cache, and one writable scratch folder (also its TMPDIR). Without bubblewrap, `unshare -rn` still
takes the network away but hides nothing. Memory is capped by an address-space rlimit
(RLIMIT_AS) and time by a wall-clock deadline after which the whole process group is killed;
both hold in every mode. `isolation()` says which mode this machine gets, and every result
records it.

The worker speaks JSON lines on a private pipe (its stdout is pointed at stderr), so a
submission that prints cannot corrupt the protocol.
"""

from __future__ import annotations

import functools
import json
import os
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

PACKAGE_ROOT = Path(__file__).resolve().parent
# An answer longer than this is no answer: the parent never buffers more of a worker's output.
MAX_ANSWER_BYTES = 64 * 1024 ** 2
ERROR_KINDS = ("raised", "memory")  # what `serve` reports; anything else on the pipe is forged


@dataclass(frozen=True)
class Limits:
    """Per-submission limits: `seconds` for each request, `memory_mb` of address space for the process."""

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


class SubmissionFailed(RuntimeError):
    """A submission that raised, timed out, ran out of memory or answered wrongly; `reason` says which."""

    def __init__(self, kind: str, reason: str):
        super().__init__(f"{kind}: {reason}")
        self.kind, self.reason = kind, reason


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
        if bwrap and _works([bwrap, "--ro-bind", "/", "/", "--dev", "/dev", "--unshare-net", "--"]):
            return Isolation("bubblewrap", True, True)
        unshare = shutil.which("unshare")
        if unshare and _works([unshare, "-rn", "--"]):
            return Isolation("unshare", True, False)
    return Isolation("none", False, False)


def _wrap(argv: list[str], writable: list[Path], hidden: list[Path]) -> list[str]:
    mode = isolation()
    if mode.tool == "bubblewrap":
        cmd = [shutil.which("bwrap"), "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc",
               "--unshare-net", "--unshare-pid", "--die-with-parent"]
        for path in hidden:
            if path.is_dir():
                cmd += ["--tmpfs", str(path)]
            elif path.exists():
                cmd += ["--ro-bind", "/dev/null", str(path)]
        for path in writable:
            cmd += ["--bind", str(path), str(path)]
        return cmd + ["--"] + argv
    if mode.tool == "unshare":
        return [shutil.which("unshare"), "-rn", "--"] + argv
    return argv


class SandboxedWorker:
    """One worker process for one submission; `request()` sends a JSON message and waits for the answer."""

    def __init__(self, module: str, limits: Limits, writable: list[Path], hidden: list[Path],
                 env: dict[str, str] | None = None):
        self.limits = limits
        read_fd, write_fd = os.pipe()
        argv = [sys.executable, "-m", module, str(write_fd)]
        memory = limits.memory_mb * 1024 * 1024

        def limit_memory():
            resource.setrlimit(resource.RLIMIT_AS, (memory, memory))

        self._stderr: deque[str] = deque(maxlen=40)
        self.process = subprocess.Popen(
            _wrap(argv, writable, hidden), stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            pass_fds=(write_fd,), preexec_fn=limit_memory, start_new_session=True,
            env=(os.environ | {"PYTHONPATH": str(PACKAGE_ROOT.parent), "PYTHONDONTWRITEBYTECODE": "1"}
                 | ({"TMPDIR": str(writable[0])} if writable else {}) | (env or {})))
        os.close(write_fd)
        self._answers, self._pending = read_fd, bytearray()
        os.set_blocking(read_fd, False)
        os.set_blocking(self.process.stderr.fileno(), False)

    def request(self, message: dict[str, Any]) -> dict[str, Any]:
        """The worker's answer (a JSON object), or SubmissionFailed naming what went wrong (the worker is
        then closed). The answer is read in bounded chunks under the deadline, so a worker that writes
        without end, never ends its line, or writes between requests cannot stall or flood the parent."""
        if self._pending or self._read_chunk(eof_ok=True):
            self._invalid("wrote to the answer pipe between requests")
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
            ready, _, _ = select.select([self._answers, self.process.stderr], [], [], min(remaining, 1.0))
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
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
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
                reason += f" (allocation refused under the memory limit of {limit // 2 ** 20} MB)"
            answers.write(json.dumps({"error": {"kind": kind, "reason": reason}}) + "\n")
            answers.flush()
            return
        answers.write(json.dumps(answer) + "\n")
        answers.flush()


def peak_rss_mb() -> float:
    """This process's peak resident memory so far (Linux reports ru_maxrss in KiB)."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
