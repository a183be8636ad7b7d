"""Reads a legacy-format torch checkpoint (.pth) into numpy arrays, without torch.

The legacy format (torch.save before the zip container, `_use_new_zipfile_serialization=False`)
is a plain sequence of pickles followed by raw bytes:

  1. the magic number 0x1950a86a20f9469cfc6c,
  2. the protocol version (1001),
  3. a dict of system information (endianness, C type sizes),
  4. the saved object; every storage in it is a persistent id
     `('storage', StorageType, key, location, numel, view_metadata)`,
  5. the list of storage keys, in the order their data follows,
  6. for each key: the element count as a little-endian int64, then the raw elements.

Tensors inside the object are `torch._utils._rebuild_tensor_v2(storage, offset, size, stride, ...)`
calls; the strides matter (weights converted from TensorFlow are often not contiguous).
Unpickling runs only allow-listed constructors: a checkpoint that names anything else is refused.
"""

import collections
import io
import pickle
import struct

import numpy as np

MAGIC = 0x1950A86A20F9469CFC6C
PROTOCOL = 1001

STORAGE_DTYPES = {
    "DoubleStorage": np.float64,
    "FloatStorage": np.float32,
    "HalfStorage": np.float16,
    "LongStorage": np.int64,
    "IntStorage": np.int32,
    "ShortStorage": np.int16,
    "CharStorage": np.int8,
    "ByteStorage": np.uint8,
    "BoolStorage": np.bool_,
}


class _StorageType:
    def __init__(self, name):
        self.name = name
        self.dtype = np.dtype(STORAGE_DTYPES[name])


class _Storage:
    """A storage named by the object pickle; its bytes arrive after the key list."""

    def __init__(self, kind, key, numel):
        self.kind, self.key, self.numel = kind, key, numel
        self.data = None


class _TensorRef:
    def __init__(self, storage, offset, size, stride):
        self.storage, self.offset = storage, offset
        self.size, self.stride = tuple(size), tuple(stride)


def _rebuild_tensor_v2(storage, offset, size, stride, requires_grad=False, hooks=None, *rest):
    return _TensorRef(storage, offset, size, stride)


class _Unpickler(pickle.Unpickler):
    def __init__(self, f, storages):
        super().__init__(f)
        self.storages = storages

    def find_class(self, module, name):
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return _rebuild_tensor_v2
        if module == "torch" and name in STORAGE_DTYPES:
            return _StorageType(name)
        raise pickle.UnpicklingError(f"checkpoint refers to {module}.{name}, which is not allowed")

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) == 6 and pid[0] == "storage"):
            raise pickle.UnpicklingError(f"unexpected persistent id {pid!r}")
        _, kind, key, _location, numel, view = pid
        if view is not None:
            raise pickle.UnpicklingError(f"storage {key}: storage views are not supported")
        if key not in self.storages:
            self.storages[key] = _Storage(kind, key, numel)
        return self.storages[key]


def _materialize(ref, name):
    st = ref.storage
    item = st.kind.dtype.itemsize
    if len(ref.size) != len(ref.stride):
        raise ValueError(f"{name}: size {ref.size} and stride {ref.stride} differ in rank")
    extent = 1 + sum((n - 1) * s for n, s in zip(ref.size, ref.stride, strict=True) if n > 0)
    if any(n == 0 for n in ref.size):
        return np.zeros(ref.size, st.kind.dtype)
    if ref.offset < 0 or min(ref.stride, default=0) < 0 or ref.offset + extent > st.numel:
        raise ValueError(
            f"{name}: size {ref.size} stride {ref.stride} offset {ref.offset} "
            f"reaches past storage {st.key} of {st.numel} elements")
    view = np.lib.stride_tricks.as_strided(
        st.data[ref.offset:], shape=ref.size, strides=[s * item for s in ref.stride], writeable=False)
    return np.ascontiguousarray(view)


def _resolve(obj, name):
    if isinstance(obj, _TensorRef):
        return _materialize(obj, name)
    if isinstance(obj, dict):
        return type(obj)((k, _resolve(v, f"{name}.{k}" if name else str(k))) for k, v in obj.items())
    if isinstance(obj, (list, tuple)):
        return type(obj)(_resolve(v, f"{name}[{i}]") for i, v in enumerate(obj))
    return obj


def load(path):
    """Returns the checkpoint's object (usually an OrderedDict state dict) with numpy arrays."""
    with open(path, "rb") as f:
        blob = f.read()
    # Checked by the local-header signature: the legacy format's trailing raw floats could by
    # chance contain the end-of-archive record that zipfile.is_zipfile looks for.
    if blob[:4] == b"PK\x03\x04":
        raise ValueError(f"{path}: zip-format checkpoint; only the legacy format is supported")
    f = io.BytesIO(blob)
    storages = {}

    def header():
        return _Unpickler(f, storages).load()

    if header() != MAGIC:
        raise ValueError(f"{path}: not a legacy torch checkpoint (bad magic number)")
    if header() != PROTOCOL:
        raise ValueError(f"{path}: unsupported legacy protocol version")
    sys_info = header()
    if not sys_info.get("little_endian", False):
        raise ValueError(f"{path}: big-endian checkpoints are not supported")
    obj = header()
    keys = header()
    for key in keys:
        st = storages.get(key)
        if st is None:
            raise ValueError(f"{path}: data for storage {key}, which no tensor uses")
        (numel,) = struct.unpack("<q", f.read(8))
        nbytes = numel * st.kind.dtype.itemsize
        raw = f.read(nbytes)
        if numel != st.numel or len(raw) != nbytes:
            raise ValueError(f"{path}: storage {key}: expected {st.numel} elements, file has {numel} "
                             f"({len(raw)} of {nbytes} bytes)")
        st.data = np.frombuffer(raw, st.kind.dtype)
    missing = [k for k, s in storages.items() if s.data is None]
    if missing:
        raise ValueError(f"{path}: no data for storages {missing[:5]}")
    if f.read(1):
        raise ValueError(f"{path}: trailing bytes after the last storage")
    return _resolve(obj, "")
