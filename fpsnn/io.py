"""Model and checkpoint files: versioned, checksummed, written atomically.

Format (version 1): a zip archive (readable with ``zipfile``; arrays also with ``numpy.load``) holding

* ``fpsnn.json``: UTF-8 JSON header ``{"format": "fpsnn", "version": 1, "kind": "model" | "checkpoint",
  "network": {...}, "arrays": {name: {"dtype", "shape"}}, "metadata": {...}}``;
* one ``<name>.npy`` member per array: the network under ``network/`` (``weights/<l>``,
  ``recurrent/<l>`` where present, and ``alpha/<l>``, ``beta/<l>``, ``theta/<l>``: one value per neuron),
  caller arrays (e.g. a checkpoint's optimizer moments) under ``extra/``;
* the header's ``network`` holds ``n_layers``, ``t_max``, ``has_recurrent`` and ``max_spikes``: an int
  when every layer has the same spike cap (all files written before per-layer caps), else a list
  with one cap per layer (``Network.spike_caps``);
* the zip archive comment (the last 64 bytes of the file): the hex SHA-256 of every byte before it, so
  a change to any byte of the file (content, zip structure, or the digest itself) is detected.

Reading checks, in order: zip signature and ``fpsnn.json`` as the first member (else "not an fpsnn
file"), the whole-file checksum (else
truncated or damaged; every version of the format keeps this trailing digest), readable archive,
presence of the header, format name, version, manifest vs members, and finally the network's own
validation. Every failure is a ValueError that names the path and the problem; nothing is
returned unless all checks pass.

Writing goes to a temporary file in the destination directory, is fsync'ed, then ``os.replace``'d over
the destination (atomic on POSIX and Windows), and the directory is fsync'ed: a crash at any point leaves
either the old file or the new one, never a mixture. The file gets the permissions an ordinary write
would give it: those of the file it replaces, else ``0o666`` less the user's umask (the temporary file's
private ``0o600`` is not kept).
"""
from __future__ import annotations

import hashlib
import io as _bytes_io
import json
import os
import re
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .network import Network

__all__ = ["FORMAT", "VERSION", "FpsnnFile", "save_model", "load_model", "save_checkpoint", "load_checkpoint",
           "read_file", "write_atomic"]

FORMAT = "fpsnn"
VERSION = 1
KINDS = ("model", "checkpoint")
_HEADER = "fpsnn.json"
_DIGEST_LEN = 64  # hex SHA-256, stored as the zip comment at the very end of the file
_FIRST_NAME_AT = 30  # offset of the first member's name in a zip file (after its 30-byte local header)
_ZIP_MAGIC = b"PK\x03\x04"
_NAME_OK = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_./-]*$")


@dataclass
class FpsnnFile:
    """The content of a model or checkpoint file.

    Attributes:
        kind: ``"model"`` or ``"checkpoint"``.
        net: the network (weights, recurrent weights, per-neuron alpha/beta/theta, t_max, spike caps).
        metadata: free JSON data (data set, encoder settings, hyper-parameters, metrics, history...).
        arrays: caller arrays stored next to the network (e.g. optimizer moments), by name.
        version: format version the file was written with.
    """

    kind: str
    net: Network
    metadata: dict = field(default_factory=dict)
    arrays: dict = field(default_factory=dict)
    version: int = VERSION


# ---------------------------------------------------------------------------------------------- writing
def _file_mode(path: Path) -> int:
    """Permission bits for a new ``path``: the replaced file's, else ``0o666`` less the umask."""
    try:
        return path.stat().st_mode & 0o7777
    except OSError:
        pass
    mask = os.umask(0o022)  # reading the umask means setting it; restored at once
    os.umask(mask)
    return 0o666 & ~mask


def write_atomic(path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (temp file in the same directory, fsync, ``os.replace``).

    The file's permissions are those of the file it replaces, else the user's default (umask).
    ValueError when ``path`` is a directory.
    """
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"path: {str(path)!r} is a directory, not a file")
    directory = path.parent if str(path.parent) else Path(".")
    directory.mkdir(parents=True, exist_ok=True)
    mode = _file_mode(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    try:
        try:
            os.chmod(tmp, mode)
        except OSError:  # a file system without POSIX permissions: keep what it gives
            pass
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        # Also on KeyboardInterrupt: leave no half-written temp file behind; the old file is untouched.
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    _fsync_directory(directory)
    return path


def _fsync_directory(directory: Path) -> None:
    # Makes the rename itself durable; not possible on every OS/file system (e.g. Windows), hence best effort.
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def json_default(value):
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (np.integer, np.floating, np.bool_)):
        return value.item()
    if isinstance(value, (tuple, set, frozenset)):
        return list(value)
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON-serialisable")


def _npy_bytes(name: str, value) -> bytes:
    arr = np.asarray(value)
    if arr.dtype.kind not in "biuf":
        raise ValueError(f"arrays[{name!r}]: dtype {arr.dtype} not storable; use bool, integer or float arrays")
    buf = _bytes_io.BytesIO()
    np.lib.format.write_array(buf, np.ascontiguousarray(arr), allow_pickle=False)
    return buf.getvalue()


def _digest(data: bytes) -> bytes:
    return hashlib.sha256(data).hexdigest().encode("ascii")


def _network_arrays(net: Network) -> tuple[dict, dict]:
    arrays = {}
    for l in range(net.n_layers):
        arrays[f"network/weights/{l}"] = net.weights[l]
        if net.recurrent[l] is not None:
            arrays[f"network/recurrent/{l}"] = net.recurrent[l]
        for name in ("alpha", "beta", "theta"):
            arrays[f"network/{name}/{l}"] = getattr(net, name)[l]
    caps = net.spike_caps
    info = {"n_layers": net.n_layers, "t_max": net.t_max,
            # one int when uniform: what every earlier fpsnn wrote and reads
            "max_spikes": caps[0] if len(set(caps)) == 1 else list(caps),
            "has_recurrent": [r is not None for r in net.recurrent]}
    return arrays, info


def _encode(kind: str, net: Network, metadata: dict | None, arrays: dict | None) -> bytes:
    if kind not in KINDS:
        raise ValueError(f"kind = {kind!r}: must be one of {KINDS}")
    if not isinstance(net, Network):
        raise ValueError(f"net: expected an fpsnn.Network, got {type(net).__name__}")
    net_arrays, net_info = _network_arrays(net)
    all_arrays = dict(net_arrays)
    for name, value in (arrays or {}).items():
        if not isinstance(name, str) or not _NAME_OK.match(name) or ".." in name:
            raise ValueError(f"arrays: name {name!r} must match {_NAME_OK.pattern} (no '..')")
        all_arrays[f"extra/{name}"] = value
    members = {f"{name}.npy": _npy_bytes(name, value) for name, value in all_arrays.items()}
    manifest = {name: {"dtype": np.asarray(v).dtype.str, "shape": list(np.shape(v))} for name, v in all_arrays.items()}
    header = {"format": FORMAT, "version": VERSION, "kind": kind, "network": net_info, "arrays": manifest,
              "metadata": metadata or {}}
    try:
        members[_HEADER] = json.dumps(header, default=json_default, sort_keys=True, indent=1).encode("utf-8")
    except (TypeError, ValueError) as exc:
        raise ValueError(f"metadata: not JSON-serialisable ({exc})") from None
    buf = _bytes_io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED) as zf:
        # The header first, so that `unzip -p model.fpsnn fpsnn.json` and humans find it at the top.
        for name in [_HEADER] + sorted(n for n in members if n != _HEADER):
            zf.writestr(zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0)), members[name])
        # Placeholder of the final length: the end record's comment-length field is then already right
        # when the bytes before the comment are hashed.
        zf.comment = b"0" * _DIGEST_LEN
    raw = buf.getvalue()
    body = raw[:-_DIGEST_LEN]
    return body + _digest(body)


def save_model(path, net: Network, metadata: dict | None = None, arrays: dict | None = None) -> Path:
    """Write ``net`` (+ JSON ``metadata`` and optional extra ``arrays``) to ``path`` atomically.

    ``metadata`` should hold the data set, encoder settings, hyper-parameters and metrics; numpy values
    are converted to JSON. Returns the path.
    """
    return write_atomic(path, _encode("model", net, metadata, arrays))


def save_checkpoint(path, net: Network, metadata: dict, arrays: dict) -> Path:
    """Write a training checkpoint: ``net``, JSON state (``metadata``: epoch, rng state, history...) and
    state ``arrays`` (optimizer moments...), atomically."""
    return write_atomic(path, _encode("checkpoint", net, metadata, arrays))


# ---------------------------------------------------------------------------------------------- reading
def read_file(path) -> FpsnnFile:
    """Read and fully verify a model or checkpoint file (see the module docstring for the checks)."""
    path = Path(path)

    def bad(problem: str) -> ValueError:
        return ValueError(f"{path}: {problem}")

    try:
        with open(path, "rb") as fh:
            raw = fh.read()
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: no such model file") from None
    except IsADirectoryError:
        raise ValueError(f"{path}: is a directory, not a model file") from None
    if not raw.startswith(_ZIP_MAGIC):
        raise bad("not an fpsnn model file (no zip signature at the start)")
    if raw[_FIRST_NAME_AT:_FIRST_NAME_AT + len(_HEADER)] != _HEADER.encode():
        raise bad(f"not an fpsnn model file (a zip archive whose first member is not {_HEADER})")
    # The whole-file digest comes first: every later parser then only ever sees bytes fpsnn wrote.
    if len(raw) <= _DIGEST_LEN or raw[-_DIGEST_LEN:] != _digest(raw[:-_DIGEST_LEN]):
        raise bad("checksum mismatch: the file is truncated, or was modified or damaged after it was written "
                  "(or it is a zip archive that fpsnn did not write)")
    try:
        with zipfile.ZipFile(_bytes_io.BytesIO(raw)) as zf:
            names = zf.namelist()
            members = {name: zf.read(name) for name in names}
    except Exception as exc:  # zipfile raises many types on bad input; all mean "corrupt" here
        raise bad(f"corrupt archive ({type(exc).__name__}: {exc})") from None
    if _HEADER not in members:
        raise bad(f"not an fpsnn model file (a zip archive without {_HEADER})")
    try:
        header = json.loads(members[_HEADER].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise bad(f"corrupt header {_HEADER} ({exc})") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise bad(f"not an fpsnn model file (header format is {header.get('format') if isinstance(header, dict) else None!r})")
    version = header.get("version")
    if version != VERSION:
        raise bad(f"unsupported format version {version!r}; this fpsnn reads version {VERSION}")
    kind = header.get("kind")
    if kind not in KINDS:
        raise bad(f"unknown file kind {kind!r}; expected one of {KINDS}")
    manifest = header.get("arrays", {})
    array_members = {n for n in members if n != _HEADER}
    if array_members != {f"{n}.npy" for n in manifest}:
        raise bad("array members do not match the header's manifest")
    arrays = {}
    for name, spec in manifest.items():
        try:
            arr = np.lib.format.read_array(_bytes_io.BytesIO(members[f"{name}.npy"]), allow_pickle=False)
        except (ValueError, OSError, EOFError) as exc:
            raise bad(f"array {name!r} unreadable ({exc})") from None
        if arr.dtype.str != spec.get("dtype") or list(arr.shape) != spec.get("shape"):
            raise bad(f"array {name!r} is {arr.dtype.str}{list(arr.shape)}, header says {spec}")
        arrays[name] = arr
    net = _network_from(header.get("network", {}), arrays, bad)
    extra = {name[len("extra/"):]: arr for name, arr in arrays.items() if name.startswith("extra/")}
    return FpsnnFile(kind=kind, net=net, metadata=header.get("metadata", {}), arrays=extra, version=version)


def _network_from(info: dict, arrays: dict, bad) -> Network:
    try:
        n_layers = int(info["n_layers"])
        has_rec = list(info["has_recurrent"])
        get = {name: [arrays[f"network/{name}/{l}"] for l in range(n_layers)]
               for name in ("weights", "alpha", "beta", "theta")}
        for name in ("alpha", "beta", "theta"):
            # A layer whose neurons share one value is passed as that scalar: Network's broadcasting
            # takes per-layer scalars, and the stored per-neuron array is recovered exactly either way.
            get[name] = [float(a[0]) if a.size and np.all(a == a[0]) else a for a in get[name]]
        recurrent = [arrays[f"network/recurrent/{l}"] if has_rec[l] else None for l in range(n_layers)]
        return Network(weights=get["weights"], alpha=get["alpha"], beta=get["beta"], theta=get["theta"],
                       t_max=float(info["t_max"]), recurrent=recurrent, max_spikes=info["max_spikes"])
    except (KeyError, IndexError, TypeError) as exc:
        raise bad(f"network description incomplete (missing {exc})") from None
    except ValueError as exc:
        raise bad(f"invalid network ({exc})") from None


def load_model(path) -> tuple[Network, dict]:
    """``(net, metadata)`` from a model file (a checkpoint's network is accepted too)."""
    f = read_file(path)
    return f.net, f.metadata


def load_checkpoint(path) -> FpsnnFile:
    """A verified checkpoint file (ValueError if ``path`` holds a model, not a checkpoint)."""
    f = read_file(path)
    if f.kind != "checkpoint":
        raise ValueError(f"{path}: is a {f.kind} file, not a training checkpoint")
    return f
