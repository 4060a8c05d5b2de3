"""The two ways a test sends Ctrl-C to the main thread, shared by the interrupt tests."""

import _thread
import os
import signal
import sys

import pytest


def _interrupt_main():
    _thread.interrupt_main()


def _sigint():
    os.kill(os.getpid(), signal.SIGINT)


SENDERS = [pytest.param(_interrupt_main, id="interrupt_main")]
if sys.platform != "win32":
    SENDERS.append(pytest.param(_sigint, id="SIGINT"))
