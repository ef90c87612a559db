"""Runs minibot with cProfile switched on by SIGUSR1 (steady state only), saved at exit."""

from __future__ import annotations

import cProfile
import runpy
import signal
import sys
from types import FrameType


def main() -> None:
    output, argv = sys.argv[1], sys.argv[2:]
    profile = cProfile.Profile()

    def enable(_signum: int, _frame: FrameType | None) -> None:
        profile.enable()

    signal.signal(signal.SIGUSR1, enable)
    sys.argv = ["minibot", *argv]
    try:
        runpy.run_module("minibot.adapters.cli", run_name="__main__", alter_sys=True)
    except SystemExit:
        pass
    finally:
        profile.disable()
        profile.dump_stats(output)


if __name__ == "__main__":
    main()
