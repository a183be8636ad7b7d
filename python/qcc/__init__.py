"""qcc from Python: compile a float ONNX model (or qcc IR) into an int8 native library and run it
on numpy arrays.

    import qcc
    lib = qcc.compile("model.onnx", calib)      # calib: float32, leading axis = samples
    y = lib(x)                                  # numpy in, numpy out
    lib.save("model.so")                        # model.so + model.h, for C, Rust or Python
    lib = qcc.load("model.so")

Every option of the `qcc` command line is a keyword of `compile` (``--weight-bits 8`` is
``weight_bits=8``, ``--keep-float a,b`` is ``keep_float=["a", "b"]``); `report` returns the
per-layer SQNR of the int8 model against the float one as a list of dicts.
"""

from ._qcc import QccError, __version__
from ._library import Library, load
from ._compile import QuantizationWarning, compile, report

__all__ = [
    "QccError",
    "QuantizationWarning",
    "Library",
    "load",
    "compile",
    "report",
    "__version__",
]
