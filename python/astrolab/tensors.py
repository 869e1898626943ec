"""The seed's tensors module (SPEC §8): AstroTensorDict and SurveyTensorDict on the C
tensordict (<astrolab/tensors.h>, <astrolab/survey.h>).

``td["ra"]`` is a numpy array viewing the C storage, without a copy; it keeps that storage alive
after ``td.cleanup()`` and after ``td`` itself is gone. ``torch.from_dlpack(td["ra"])`` and
``td.to_torch("ra")`` share it too. Values given to a tensordict come in zero-copy through
DLPack where the producer allows (writable numpy arrays, torch tensors), else as a copy (bytes
strings, read-only or byte-swapped arrays). Nested keys are dotted paths ("pos.ra"), and nested
dicts given to the constructor become nested tensordicts; ``td["pos"]`` is a view of that part.
The C tensordict registers itself for cleanup when made: a forced cleanup drops its temporary
entries. Loads, saves and optimize_memory release the GIL.
"""
import sys

from astrolab import _astrolab as _c

__all__ = ["AstroTensorDict", "SurveyTensorDict", "TensorDictView"]


def _batch_arg(batch_size):
    if batch_size is None:
        return None
    if isinstance(batch_size, (bool, str, bytes)):
        raise TypeError("batch_size must be an int or a 1-element sequence")
    if isinstance(batch_size, int):
        return batch_size
    try:
        dims = [int(d) for d in batch_size]
    except TypeError:
        raise TypeError("batch_size must be an int or a 1-element sequence, not "
                        f"{type(batch_size).__qualname__}") from None
    if len(dims) != 1:
        raise ValueError(f"batch_size must have one dimension (the rows), not {len(dims)}")
    return dims[0]


def _check_key(key):
    if not isinstance(key, str):
        raise TypeError(f"keys are str, not {type(key).__qualname__}")
    return key


class _Mapping:
    """What AstroTensorDict and its nested views share: lookups under a key prefix."""

    def _root(self):
        raise NotImplementedError

    def _path(self, key):
        raise NotImplementedError

    def __getitem__(self, key):
        path = self._path(_check_key(key))
        root = self._root()
        if root.is_dict(path):
            return TensorDictView(root, path)
        return root.get_array(path)

    def get(self, key, default=None):
        try:
            return self[key]
        except KeyError:
            return default

    def __setitem__(self, key, value):
        self.set(key, value)

    def set(self, key, value, temp=False):
        """Stores value (numpy array, torch tensor, DLPack producer, nested dict) under key;
        temp=True marks it temporary (clear_temp_tensors and forced cleanup drop it)."""
        path = self._path(_check_key(key))
        if isinstance(value, dict):
            for k, v in value.items():
                self.set(key + "." + _check_key(k), v, temp)
            return
        self._root()._set_entry(path, value, temp)

    def __delitem__(self, key):
        self._root().remove(self._path(_check_key(key)))

    def __contains__(self, key):
        return isinstance(key, str) and self._root().contains(self._path(key))

    def _prefix(self):
        return ""

    def __iter__(self):
        return iter(self.keys())

    def __len__(self):
        return len(self._root().entries(self._prefix()))

    def keys(self, include_nested=False):
        """Direct entry names; with include_nested, every tensor's dotted path."""
        root, prefix = self._root(), self._prefix()
        out = []
        for name, is_dict in root.entries(prefix):
            if is_dict and include_nested:
                sub = TensorDictView(root, self._path(name))
                out.extend(name + "." + k for k in sub.keys(include_nested=True))
            else:
                out.append(name)
        return out

    def items(self):
        return [(k, self[k]) for k in self.keys()]

    def values(self):
        return [self[k] for k in self.keys()]

    def to_torch(self, key):
        """Entry key as a torch tensor sharing its storage (DLPack; no copy)."""
        import torch.utils.dlpack
        return torch.utils.dlpack.from_dlpack(self._root().dlpack_capsule(self._path(key)))

    def to_dict(self):
        """Nested dicts of numpy views."""
        return {k: (v.to_dict() if isinstance(v, TensorDictView) else v)
                for k, v in self.items()}


class TensorDictView(_Mapping):
    """The nested tensordict at `prefix` of a root: looked up by path each time, so it never
    holds a pointer that the root could invalidate."""

    def __init__(self, root, prefix):
        self._r = root
        self._p = prefix

    def _root(self):
        return self._r

    def _prefix(self):
        return self._p

    def _path(self, key):
        return self._p + "." + key

    @property
    def batch_size(self):
        return self._r.batch_size

    def __repr__(self):
        return f"TensorDictView({self._p!r}, keys={self.keys()})"


class AstroTensorDict(_Mapping, _c.TensorDict):
    """Named arrays sharing a batch size (the rows), in memory tracked by AstroLab.

    AstroTensorDict({"ra": ra, "pos": {"x": x}}, batch_size=[n])"""

    def __init__(self, data=None, batch_size=None, **kwargs):
        if kwargs.get("device") not in (None, "cpu"):
            raise ValueError("only device='cpu' tensordicts are made from Python")
        super().__init__(_batch_arg(batch_size))
        if data is None:
            return
        if not hasattr(data, "items"):
            raise TypeError(f"data must be a mapping, not {type(data).__qualname__}")
        for key, value in data.items():
            self.set(key, value)

    def _root(self):
        return self

    def _path(self, key):
        return key

    def _set_entry(self, path, value, temp):
        _c.TensorDict.set(self, path, value, temp)

    @property
    def batch_size(self):
        """The rows, as a 1-tuple (tensordict's torch.Size([n])); () before any entry."""
        b = self._batch
        return () if b is None else (b,)

    def memory_info(self):
        """{total_mb, total_bytes, n_tensors, shared_bytes, devices, tensors: [one per
        tensor]}."""
        info = _c.TensorDict.memory_info(self)
        info["tensors"] = info.pop("entries")
        return info

    def __repr__(self):
        return (f"{type(self).__qualname__}(keys={self.keys()}, "
                f"batch_size={list(self.batch_size)})")


class SurveyTensorDict(AstroTensorDict):
    """A survey catalog: AstroTensorDict with the survey's name, column units and roles."""

    @classmethod
    def from_file(cls, path, hdu=None, columns=None, progress=False):
        """Loads a FITS or CSV table. hdu: index (0 = primary) or EXTNAME; columns: names to
        load; progress: True for a bar on stderr, or a callable(rows_done, rows_total)."""
        if progress is True:
            progress = _stderr_progress()
        elif progress is False:
            progress = None
        return _c._survey_load(cls, path, hdu, columns, progress)

    def to_fits(self, path, extname=None, overwrite=True):
        """Writes every tensor as a column of one FITS binary table (units, roles, survey)."""
        _c._survey_save(self, path, extname, overwrite)

    def _info(self):
        return self.survey_info()

    @property
    def survey(self):
        return self._info()["survey"]

    @property
    def units(self):
        return {c["name"]: c["unit"] for c in self._info()["columns"]}

    @property
    def roles(self):
        return {c["name"]: c["role"] for c in self._info()["columns"] if c["role"]}

    def set_column_info(self, name, unit=None, role=None):
        self.set_column_meta(name, unit, role)


def _stderr_progress():
    def show(done, total):
        width = 40
        filled = width * done // total if total else width
        sys.stderr.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} rows")
        if done >= total:
            sys.stderr.write("\n")
        sys.stderr.flush()
    return show
