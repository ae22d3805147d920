"""The one runner of the Python test suites: named checks, one line each, and a summary.

    from checks import Checks, Failed

    checks = Checks(detail=True)          # detail: print what a passing check established
    checks.run("name", fn)                # fn() -> optional detail; raises Failed to fail
    checks.fail("name", "message")        # a failure outside any check (a broken setup)
    return checks.summary()               # prints "N passed, M failed"; the exit code

Each check prints `ok    NAME[: DETAIL]` or `FAIL  NAME: MESSAGE`. Failed (and the exception
types a suite names as `expected`) are a check's way to say no: their message is the report.
Any other exception is a bug of the check or of what it tests: its traceback is printed, it
counts as a failure, and the suite carries on with the next check. The last line is always
"N passed, M failed" and the exit code is 1 when anything failed, which is all that
tests/lib.sh reads.

Owns: the pass/fail counts of one suite. Never: stops at a failed check by itself (a suite
that must stop asks for the result of `run`).
"""

from __future__ import annotations

import time
import traceback
from typing import Callable


class Failed(Exception):
    """A check's expected way to fail: the message says what was wrong."""


class Checks:
    def __init__(self, *, detail: bool = True, expected: tuple[type[BaseException], ...] = (),
                 timed: bool = False) -> None:
        self.passed = 0
        self.failed = 0
        self.detail = detail
        self.timed = timed
        self.expected = (Failed, *expected)

    def run(self, name: str, fn: Callable[[], object]) -> bool:
        """Runs one check; True when it passed."""
        t0 = time.monotonic()
        try:
            detail = fn()
        except self.expected as e:
            self.fail(name, str(e))
            return False
        except Exception:  # noqa: BLE001 - report and carry on with the other checks
            self.fail(name, "\n" + traceback.format_exc().rstrip())
            return False
        self.passed += 1
        took = f" ({time.monotonic() - t0:.1f} s)" if self.timed else ""
        shown = f": {detail}" if detail and self.detail else ""
        print(f"ok    {name}{took}{shown}", flush=True)
        return True

    def fail(self, name: str, message: str) -> None:
        """Counts a failure; `message` starting with a line break is printed below the name."""
        self.failed += 1
        sep = ":" if message.startswith("\n") else ": "
        print(f"FAIL  {name}{sep}{message}", flush=True)

    def summary(self) -> int:
        """Prints the closing "N passed, M failed" line and returns the exit code."""
        print(f"{self.passed} passed, {self.failed} failed", flush=True)
        return 1 if self.failed else 0
