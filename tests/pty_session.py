"""Drives a command through a pseudo-terminal, as a person at a keyboard would."""

from __future__ import annotations

import os
import pty
import re
import select
import signal
import time


class PtySession:
    """A child process whose stdin, stdout and controlling terminal are a pty (so
    `isatty()` is true and getpass reads with echo off); `expect` waits for a prompt."""

    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        pid, fd = pty.fork()
        if pid == 0:  # the child: nothing but exec
            os.execvpe(argv[0], argv, env)
        self.pid, self.fd = pid, fd
        self.output = ""
        self._cursor = 0  # where the next `expect` starts looking
        self.returncode: int | None = None

    def expect(self, pattern: str, timeout: float = 20.0) -> str:
        """Reads until `pattern` (a regex) shows; returns everything read up to its end."""
        deadline = time.monotonic() + timeout
        start = self._cursor
        while True:
            match = re.search(pattern, self.output[start:])
            if match:
                self._cursor = start + match.end()
                return self.output[start : self._cursor]
            left = deadline - time.monotonic()
            if left <= 0 or not self._read(left):
                raise AssertionError(f"no {pattern!r} within {timeout}s; got: {self.output!r}")

    def send_line(self, text: str) -> None:
        os.write(self.fd, text.encode() + b"\r")

    def wait(self, timeout: float = 20.0) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._read(0.1)
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                while self._read(0.05):
                    pass
                self.returncode = os.waitstatus_to_exitcode(status)
                os.close(self.fd)
                return self.returncode
        self.kill()
        raise AssertionError(f"the command did not end within {timeout}s: {self.output!r}")

    def kill(self) -> None:
        if self.returncode is None:
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
            self.returncode = -9
            os.close(self.fd)

    def _read(self, timeout: float) -> bool:
        ready, _, _ = select.select([self.fd], [], [], timeout)
        if not ready:
            return False
        try:
            data = os.read(self.fd, 4096)
        except OSError:  # EIO: the child closed the terminal
            return False
        self.output += data.decode(errors="replace").replace("\r\n", "\n")
        return bool(data)
