"""A compiled model library (`model.so`) run on numpy arrays, with the input checks a numpy user
expects: names, shapes and dtypes said in the error, not a crash in native code."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from . import _qcc


class Library:
    """A loaded model library. Thread-safe: each calling thread gets its own scratch arena,
    and the GIL is released while the model runs."""

    def __init__(self, path: str | os.PathLike, *, _owner: Any = None, report: dict | None = None):
        self._lib = _qcc.Library(os.fspath(path))
        # A library compiled by `qcc.compile` lives in a temporary directory this object owns.
        self._owner = _owner
        #: What the compile stages reported (None for a library loaded from a file).
        self.report = report

    @property
    def inputs(self) -> list[tuple[str, tuple[int, ...]]]:
        """(name, shape) of each input, in the order `__call__` takes them."""
        return [(n, tuple(s)) for n, s in self._lib.inputs]

    @property
    def outputs(self) -> list[tuple[str, tuple[int, ...]]]:
        """(name, shape) of each output, in the order they are returned."""
        return [(n, tuple(s)) for n, s in self._lib.outputs]

    @property
    def input_dtypes(self) -> list[np.dtype]:
        """The dtype of each input, in order: float32, or int32/int64/int8/uint8/bool for a model
        that takes token ids, bytes or masks as they are."""
        return [np.dtype(d) for d in self._lib.input_dtypes]

    @property
    def output_dtypes(self) -> list[np.dtype]:
        """The dtype of each output, in order (float32, or an integer or bool type)."""
        return [np.dtype(d) for d in self._lib.output_dtypes]

    @property
    def info(self) -> dict:
        """The library's description of itself: target, CPU features, weight bits, …"""
        return self._lib.info

    @property
    def path(self) -> Path:
        return Path(self._lib.path)

    def __repr__(self) -> str:
        ins = ", ".join(f"{n}: {'x'.join(map(str, s))}" for n, s in self.inputs)
        outs = ", ".join(f"{n}: {'x'.join(map(str, s))}" for n, s in self.outputs)
        return f"<qcc.Library {self.info['model']} ({ins}) -> ({outs}) [{self.info['target']}]>"

    def _checked(self, name: str, shape: tuple[int, ...], want: np.dtype, x: Any) -> np.ndarray:
        a = np.asarray(x)
        if a.dtype != want:
            raise TypeError(
                f"input {name!r} is {want}, but an array of {a.dtype} was given "
                f"(convert it with .astype(np.{want}))"
            )
        if a.shape != shape:
            raise ValueError(
                f"input {name!r} has shape {shape}, but an array of shape {a.shape} was given"
            )
        return np.ascontiguousarray(a)

    def __call__(self, *xs: Any, threads: int = 1) -> np.ndarray | tuple[np.ndarray, ...]:
        """Runs the model on its inputs in order: one array back for a model with one output,
        else a tuple in output order. `threads` > 1 splits the work between that many threads
        (the calling one and threads - 1 the library starts); the outputs are the same, bit for
        bit, for every count."""
        if len(xs) != len(self.inputs):
            names = ", ".join(n for n, _ in self.inputs)
            raise TypeError(f"the model takes {len(self.inputs)} input(s) ({names}), {len(xs)} given")
        arrays = [
            self._checked(n, s, d, x) for (n, s), d, x in zip(self.inputs, self.input_dtypes, xs)
        ]
        out = self._lib.run(arrays, threads=_threads(threads))
        return out[0] if len(out) == 1 else tuple(out)

    def run(self, feeds: Mapping[str, Any], threads: int = 1) -> dict[str, np.ndarray]:
        """Runs the model on inputs given by name (on `threads` threads, as `__call__`);
        returns the outputs by name."""
        names = [n for n, _ in self.inputs]
        unknown = sorted(set(feeds) - set(names))
        missing = [n for n in names if n not in feeds]
        if unknown or missing:
            parts = []
            if missing:
                parts.append(f"missing {', '.join(missing)}")
            if unknown:
                parts.append(f"unknown {', '.join(unknown)}")
            raise KeyError(f"the model's inputs are {', '.join(names)}: {'; '.join(parts)}")
        arrays = [self._checked(n, s, d, feeds[n]) for (n, s), d in zip(self.inputs, self.input_dtypes)]
        out = self._lib.run(arrays, threads=_threads(threads))
        return {n: a for (n, _), a in zip(self.outputs, out)}

    def save(self, path: str | os.PathLike) -> Path:
        """Writes the library and its C header (`model.so` and `model.h` beside it), each first to
        a temporary file in the same directory and then renamed, so neither is ever half-written."""
        dest = Path(path)
        if dest.suffix != ".so":
            raise ValueError(f"a shared library's name must end in .so, not {dest.name!r}")
        header_src = self.path.with_suffix(".h")
        header_dst = dest.with_suffix(".h")
        dest.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=dest.parent, prefix=".qcc-save-") as tmp:
            so_tmp, h_tmp = Path(tmp) / "model.so", Path(tmp) / "model.h"
            shutil.copyfile(self.path, so_tmp)
            os.chmod(so_tmp, 0o755 & ~_umask())
            if header_src.exists():
                shutil.copyfile(header_src, h_tmp)
                os.chmod(h_tmp, 0o644 & ~_umask())
                os.replace(h_tmp, header_dst)
            os.replace(so_tmp, dest)
        return dest


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def load(path: str | os.PathLike) -> Library:
    """Loads a library `qcc` wrote (refused, with the reason, if this CPU lacks a feature it was
    built for)."""
    return Library(path)


def _threads(threads: Any) -> int:
    """`threads` checked: a positive int (bool excluded)."""
    if isinstance(threads, bool) or not isinstance(threads, int):
        raise TypeError(f"threads is an int, not {type(threads).__name__}")
    if threads < 1:
        raise ValueError(f"threads must be at least 1, not {threads}")
    return threads
