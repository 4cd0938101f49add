"""Allow-list unpickling of ``config.pkl`` and a writer that numpy 1.x and 2.x both read.

A pickle can run arbitrary code on load, and model files travel between machines, so
``config.pkl`` is only ever read through :func:`load_config_pickle`, which resolves nothing but
plain data types.
"""
from __future__ import annotations

import codecs
import collections
import copyreg
import io
import pathlib
import pickle
from typing import Any, BinaryIO

import numpy as np

from ..errors import UnsafeConfigError

_NUMPY_SCALARS = {
    "bool_", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
    "float16", "float32", "float64", "complex64", "complex128", "longlong", "ulonglong",
    "intc", "uintc", "short", "ushort", "byte", "ubyte", "double", "single", "half",
}

_ALLOWED: dict[tuple[str, str], Any] = {
    ("builtins", name): getattr(__import__("builtins"), name)
    for name in ("set", "frozenset", "list", "dict", "tuple", "complex", "bytearray", "range",
                 "slice", "bytes", "str", "int", "float", "bool")
}
_ALLOWED.update({
    ("collections", "OrderedDict"): collections.OrderedDict,
    # Protocol-2 pickles store bytes (and numpy buffers) as _codecs.encode(text, "latin1").
    ("_codecs", "encode"): codecs.encode,
    # Rebuilds objects of classes that are themselves allow-listed (protocol < 2).
    # private, so absent from typeshed's stubs
    ("copyreg", "_reconstructor"): copyreg._reconstructor,  # type: ignore[attr-defined]
    ("argparse", "Namespace"): __import__("argparse").Namespace,
    # Paths are loaded as pure paths: a WindowsPath cannot be instantiated on Linux and vice
    # versa, and a config never needs to touch the file system.
    ("pathlib", "PurePath"): pathlib.PurePath,
    ("pathlib", "PurePosixPath"): pathlib.PurePosixPath,
    ("pathlib", "PureWindowsPath"): pathlib.PureWindowsPath,
    ("pathlib", "Path"): pathlib.PurePath,
    ("pathlib", "PosixPath"): pathlib.PurePosixPath,
    ("pathlib", "WindowsPath"): pathlib.PureWindowsPath,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("numpy", "array"): np.array,
})
for _module in ("numpy.core.multiarray", "numpy._core.multiarray"):
    _ALLOWED[(_module, "_reconstruct")] = np.ndarray.__reduce__(np.zeros(1))[0]
    _ALLOWED[(_module, "scalar")] = np.zeros(1, np.float64)[0].__reduce__()[0]
# Protocol 5 rebuilds arrays from a byte buffer and a dtype.
_FROMBUFFER = np.zeros(2).__reduce_ex__(5)[0]
for _module in ("numpy.core.numeric", "numpy._core.numeric"):
    _ALLOWED[(_module, "_frombuffer")] = _FROMBUFFER
for _name in _NUMPY_SCALARS:
    if hasattr(np, _name):
        _ALLOWED[("numpy", _name)] = getattr(np, _name)
# numpy 2 pickles dtypes through numpy.dtypes.<Name>DType classes in some cases.
if hasattr(np, "dtypes"):
    for _name in dir(np.dtypes):
        if _name.endswith("DType"):
            _ALLOWED[("numpy.dtypes", _name)] = getattr(np.dtypes, _name)


# Python 2 names that protocol 0-2 pickles use for the same builtins.
_MODULE_ALIASES = {"__builtin__": "builtins", "copy_reg": "copyreg"}


class _AllowListUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        module = _MODULE_ALIASES.get(module, module)
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise UnsafeConfigError(
                f"config.pkl refers to the Python global '{module}.{name}', which is not on the "
                "allow-list of plain data types; refusing to load it (a pickle can run code)"
            ) from None

    def persistent_load(self, pid: Any) -> Any:
        raise UnsafeConfigError("config.pkl uses persistent ids, which plain configs never do")


def load_config_pickle(stream: BinaryIO) -> Any:
    """Unpickle ``stream`` allowing only builtins, numpy arrays/dtypes/scalars,
    ``argparse.Namespace``, ``pathlib`` paths and ``OrderedDict``."""
    return _AllowListUnpickler(stream).load()


def _reduce_array(array: np.ndarray) -> tuple:
    return np.array, (array.tolist(), array.dtype.str)


def _reduce_scalar(value: np.generic) -> tuple:
    return getattr(np, type(value).__name__), (value.item(),)


class _PortablePickler(pickle.Pickler):
    """Writes numpy values through ``numpy.array`` / ``numpy.<scalar type>``, which exist under
    the same name in numpy 1.x and 2.x (numpy 2's default refers to ``numpy._core``, a module
    numpy 1.x does not have)."""

    def reducer_override(self, obj: Any) -> Any:
        if isinstance(obj, np.ndarray) and obj.dtype != object:
            return _reduce_array(obj)
        if isinstance(obj, np.generic) and type(obj).__name__ in _NUMPY_SCALARS:
            return _reduce_scalar(obj)
        return NotImplemented


def dump_config_pickle(config: Any) -> bytes:
    buffer = io.BytesIO()
    _PortablePickler(buffer, protocol=4).dump(config)
    return buffer.getvalue()
