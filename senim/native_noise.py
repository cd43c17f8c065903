"""Keep native libraries' start-up chatter off the terminal.

TensorFlow and its TFLite converter write to the process's stderr from C++ before any
Python logging setting applies (absl logs before ``absl::InitializeLog`` always reach
stderr): "could not find cuda drivers", "failed call to cuInit", oneDNN notices,
``NodeDef`` and ``fully_quantize`` lines. ``filter_native_stderr`` routes file
descriptor 2 through a thread that drops exactly those lines and passes everything else
through at once, so real errors still show, in order.
"""

from __future__ import annotations

import atexit
import os
import re
import threading

NOISE = re.compile(
    rb"All log messages before absl::InitializeLog|oneDNN custom operations are on"
    rb"|Could not find cuda drivers|failed call to cuInit|cuda_platform\.cc"
    rb"|Unable to register cu(DNN|FFT|BLAS) factory|computation placer already registered"
    rb"|TF-TRT Warning|NodeDef mentions attribute|fully_quantize: \d"
    rb"|Estimated count of arithmetic ops|cudart_stub\.cc|This TensorFlow binary is optimized"
    rb"|rebuild TensorFlow with the appropriate compiler flags"
)

_installed = threading.Lock()
_state: dict = {}


def filter_native_stderr() -> None:
    """Install the filter once per process (a no-op when stderr is not a file descriptor
    this process can redirect); it is removed, and drained, at exit."""
    with _installed:
        if _state:
            return
        try:
            original = os.dup(2)
        except OSError:
            return
        read_end, write_end = os.pipe()
        os.dup2(write_end, 2)
        os.close(write_end)
        thread = threading.Thread(
            target=_pump, args=(read_end, original), name="native-stderr-filter", daemon=True
        )
        thread.start()
        _state.update(original=original, thread=thread)
        atexit.register(_restore)


def _pump(read_end: int, original: int) -> None:
    pending = b""
    with os.fdopen(read_end, "rb", buffering=0) as source:
        while chunk := source.read(65536):
            pending += chunk
            *lines, pending = pending.split(b"\n")
            kept = b"".join(line + b"\n" for line in lines if not NOISE.search(line))
            if kept:
                os.write(original, kept)
    if pending and not NOISE.search(pending):
        os.write(original, pending)


def _restore() -> None:
    """Put stderr back and let the pump write what it still holds."""
    import sys

    sys.stderr.flush()
    original, thread = _state["original"], _state["thread"]
    os.dup2(original, 2)  # closes the pipe's last write end: the pump sees the end
    thread.join(timeout=2)
