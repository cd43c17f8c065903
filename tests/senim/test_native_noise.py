"""Native libraries' start-up chatter is dropped from stderr; everything else passes."""

from __future__ import annotations

import subprocess
import sys

SCRIPT = r"""
import os, sys
from senim.native_noise import filter_native_stderr
filter_native_stderr()
os.write(2, b"I0000 cudart_stub.cc:31] Could not find cuda drivers on your machine\n")
os.write(2, b"real problem: the file is missing\n")
os.write(2, b"E0000 cuda_platform.cc:52] failed call to cuInit: INTERNAL\n")
os.write(2, b"fully_quantize: 0, inference_type: 6, input_inference_type: UINT8\n")
print("an error from Python", file=sys.stderr)
os.write(2, b"last line without a newline")
"""


def test_given_tensorflow_noise_and_real_errors_on_stderr_then_only_the_errors_remain():
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=60, check=False
    )

    assert done.returncode == 0
    assert done.stderr.splitlines() == [
        "real problem: the file is missing",
        "an error from Python",
        "last line without a newline",
    ]
