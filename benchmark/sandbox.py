"""Run untrusted submission code in its own process: a time limit, a memory limit, no network,
and nothing but its inputs in sight (how it is confined: `benchmark.isolation`).

Memory is capped on what the worker's whole process tree holds (anonymous and shared pages), read by the
parent while it works (an address-space rlimit of ADDRESS_SPACE_FACTOR times that is only a
backstop: torch and mmap reserve far more address space than they touch, so a limit on it
refused mergekit's merge of two smol experts), and time by a wall-clock deadline; past
either the whole process tree is killed; both hold in every isolation mode.

What a request cost is measured here, in the parent, never taken from the worker's answer: the
wall clock from sending the request to reading the answer, and the peak memory the worker's whole
process tree holds (anonymous and shared pages; mapped files are page cache), read from the kernel
(`/proc/PID/status`) every SAMPLE_SECONDS while it runs. Between
requests the tree is stopped (SIGSTOP), so no work can hide between two measured requests.

The worker speaks JSON lines on a private pipe (its stdout is pointed at stderr), so a
submission that prints cannot corrupt the protocol. `SandboxedWorker`, `serve` and `failure_kind` stay
in this module: the error reports name exception types (`type(err).__name__`), which ties their cache
keys to this module's name.
"""

from __future__ import annotations

import json
import os
import resource
import select
import signal
import subprocess
import sys
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .isolation import Limits, _environment, _status_kb, _wrap, isolation, process_tree, weakest

# what a harness needs to run a worker; the limits and the isolation mode come with it
__all__ = ["Limits", "SandboxedWorker", "SubmissionFailed", "Usage", "failure_kind", "isolation", "serve", "weakest"]

# An answer longer than this is no answer: the parent never buffers more of a worker's output.
MAX_ANSWER_BYTES = 64 * 1024 ** 2
ERROR_KINDS = ("raised", "memory")  # what `serve` reports; anything else on the pipe is forged


class SubmissionFailed(RuntimeError):
    """A submission that raised, timed out, ran out of memory or answered wrongly; `reason` says which."""

    def __init__(self, kind: str, reason: str):
        super().__init__(f"{kind}: {reason}")
        self.kind, self.reason = kind, reason


ADDRESS_SPACE_FACTOR = 8
SAMPLE_SECONDS = 0.1  # how often the worker's memory is read while it works


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

