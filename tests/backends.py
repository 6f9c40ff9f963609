"""The array libraries the backend tests run over: how to wrap a NumPy array in
each, the type that must come back, and how to read it back as NumPy."""

from __future__ import annotations

import dask.array as da
import jax
import jax.numpy as jnp
import numpy as np
import torch


def _read_only(arr):
    arr = np.array(arr)
    arr.flags.writeable = False
    return arr


CPU_BACKENDS = {
    # name: (wrap a NumPy array, the result type, back to NumPy)
    "numpy": (np.asarray, np.ndarray, np.asarray),
    "read-only numpy": (_read_only, np.ndarray, np.asarray),
    "torch": (lambda a: torch.from_numpy(np.ascontiguousarray(a)), torch.Tensor, lambda t: t.detach().numpy()),
    "jax": (jnp.asarray, jax.Array, np.asarray),
    "dask": (lambda a: da.from_array(a, chunks=(1,) * (a.ndim - 3) + (-1,) * 3), da.Array, lambda d: d.compute()),
    "tensorflow": (None, None, lambda t: t.numpy()),  # TF is the `tf` fixture: wrapped by the tests
}
