"""`qcc.compile` and `qcc.report`: Python keywords and arrays turned into the command line's
arguments and files, handed to the same pipeline the `qcc` command runs."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

import numpy as np

from . import _qcc
from ._library import Library

# Keywords `compile` takes itself, or that make no sense from Python.
_RESERVED = {"model", "calib", "rules", "progress"}


def _flags() -> dict[str, tuple[bool, bool]]:
    return {long.replace("-", "_"): (takes, rep) for long, takes, rep in _qcc.compile_flags()}


def _model_path(model: Any, tmp: Path) -> str:
    if isinstance(model, (str, os.PathLike)):
        p = Path(model)
        if not p.exists():
            raise FileNotFoundError(f"no model at {p}")
        return os.fspath(p)
    # An onnx.ModelProto (checked by duck typing: onnx stays an optional dependency).
    if hasattr(model, "SerializeToString") and hasattr(model, "graph"):
        p = tmp / "model.onnx"
        p.write_bytes(model.SerializeToString())
        return os.fspath(p)
    raise TypeError(
        f"model is a path to a .onnx or .ir file or an onnx.ModelProto, not {type(model).__name__}"
    )


def _calib_batches(calib: Any) -> list[Mapping[str, np.ndarray] | np.ndarray]:
    if isinstance(calib, (np.ndarray, Mapping)):
        return [calib]
    if isinstance(calib, Iterable) and not isinstance(calib, (str, bytes)):
        batches = list(calib)
        if not batches:
            raise ValueError("calib is empty: give at least one sample")
        return batches
    raise TypeError(
        "calib is an array whose leading axis counts samples, a dict of them by input name, "
        f"or an iterable of either; not {type(calib).__name__}"
    )


def _sample(x: Any) -> np.ndarray:
    """A calibration array as qcc reads it: integer and bool samples (token ids, bytes, masks)
    keep their dtype, which must be the input's; any other array becomes float32."""
    a = np.asarray(x)
    return a if a.dtype.kind in "iub" else a.astype(np.float32)


def _calib_args(calib: Any, tmp: Path) -> list[str]:
    """The samples as .npy files, one per input (`--calib name=FILE` when there are several)."""
    batches = _calib_batches(calib)
    if all(isinstance(b, np.ndarray) or not isinstance(b, Mapping) for b in batches):
        arr = np.concatenate([_sample(b) for b in batches], axis=0)
        p = tmp / "calib.npy"
        np.save(p, arr)
        return ["--calib", os.fspath(p)]
    if not all(isinstance(b, Mapping) for b in batches):
        raise TypeError("calib batches are all arrays or all dicts by input name, not a mix")
    names = list(batches[0])
    out = []
    for i, name in enumerate(names):
        arr = np.concatenate([_sample(b[name]) for b in batches], axis=0)
        p = tmp / f"calib{i}.npy"
        np.save(p, arr)
        out += ["--calib", f"{name}={p}"]
    return out


def _option_args(options: dict[str, Any]) -> list[str]:
    flags = _flags()
    out: list[str] = []
    for key, value in options.items():
        if key in _RESERVED or key not in flags:
            known = ", ".join(sorted(k for k in flags if k not in _RESERVED))
            raise TypeError(f"compile() got an unexpected keyword argument {key!r} (options: {known})")
        takes, repeatable = flags[key]
        flag = "--" + key.replace("_", "-")
        if value is None:
            continue
        if not takes:
            if not isinstance(value, bool):
                raise TypeError(f"{key} is True or False, not {value!r}")
            if value:
                out.append(flag)
            continue
        if isinstance(value, (list, tuple)):
            if not repeatable and key != "keep_float":
                raise TypeError(f"{key} takes one value, not a list")
            if key == "keep_float":
                out += [flag, ",".join(map(str, value))] if value else []
                continue
            for v in value:
                out += [flag, os.fspath(v) if isinstance(v, os.PathLike) else str(v)]
            continue
        if isinstance(value, Mapping) and key in ("weight_bits_for", "activation_bits_for"):
            for op, bits in value.items():
                out += [flag, f"{op}={bits}"]
            continue
        if key == "input_range" and isinstance(value, (tuple, list)):
            value = f"{value[0]},{value[1]}"
        out += [flag, os.fspath(value) if isinstance(value, os.PathLike) else str(value)]
    return out


def _argv(model: Any, calib: Any, rules: Iterable, options: dict, tmp: Path, out: Path) -> list[str]:
    argv = ["qcc", _model_path(model, tmp), "-o", os.fspath(out)]
    if calib is not None:
        argv += _calib_args(calib, tmp)
    for r in rules:
        argv += ["--rules", os.fspath(r)]
    return argv + _option_args(options)


def compile(
    model: Any,
    calib: Any = None,
    *,
    target: str = "native",
    weight_bits: int | None = None,
    rules: Iterable[str | os.PathLike] = (),
    progress: Callable[[int, int], None] | None = None,
    **options: Any,
) -> Library:
    """Compiles a model into an int8 library and loads it.

    model: a path to a .onnx or .ir file, or an onnx.ModelProto.
    calib: calibration samples with a leading sample axis, float32 (or the input's own integer
        or bool dtype, for token ids, bytes or masks; a dict by input name for
        several inputs), or an iterable of such batches. Without it, ranges come from the
        model's BatchNorm statistics (data-free), which is worse.
    target: the CPU to build for ("native", "x86-64-v2", "x86-64-v3", "x86-64-v4+avx512vnni", …).
    weight_bits: 7 or 8; by default 8 where the target has VNNI, else 7.
    rules: extra rule files, checked before use.
    progress: called as progress(done, total) after each calibration sample.
    options: every other flag of the `qcc` command, by its long name with `_` for `-`
        (calibration="entropy", equalize=True, keep_float=[...], bias_correction="off", …).
    """
    owner = tempfile.TemporaryDirectory(prefix="qcc-")
    tmp = Path(owner.name)
    out = tmp / "model.so"
    opts = dict(options, target=target, weight_bits=weight_bits)
    argv = _argv(model, calib, rules, opts, tmp, out)
    rep = _qcc.build(argv, True, progress)
    _warn(rep)
    return Library(out, _owner=owner, report=rep)


def report(
    model: Any,
    calib: Any,
    *,
    target: str = "native",
    weight_bits: int | None = None,
    rules: Iterable[str | os.PathLike] = (),
    **options: Any,
) -> list[dict]:
    """The per-layer SQNR (dB) between the float model's activations and the int8 model's, on
    the calibration samples, worst first: a list of {"name", "op", "sqnr_db"}."""
    if calib is None:
        raise ValueError("report compares float and int8 on samples: give calib")
    with tempfile.TemporaryDirectory(prefix="qcc-") as t:
        tmp = Path(t)
        opts = dict(options, target=target, weight_bits=weight_bits, report=True)
        argv = _argv(model, calib, rules, opts, tmp, tmp / "model.so")
        rep = _qcc.build(argv, False, None)
    _warn(rep)
    return rep["layers"]


class QuantizationWarning(UserWarning):
    """What the quantizer tells about a choice it made for you (a data-free calibration, weight
    channels too small for their scale, a saturated bias): the command line's `warning:` lines."""


def _warn(rep: dict) -> None:
    import warnings

    for w in rep["warnings"]:
        warnings.warn(w, QuantizationWarning, stacklevel=3)
