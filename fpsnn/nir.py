r"""NIR (Neuromorphic Intermediate Representation, package ``nir``) in and out.

An fpsnn :class:`~fpsnn.network.Network` becomes the graph
``Input -> Linear -> CubaLIF (-> Linear -> back into it: recurrence) -> Linear -> ... -> Output``
(a non-firing read-out layer, ``theta = inf``, becomes a ``CubaLI`` node), and such a graph, written by
fpsnn or another tool, becomes a Network. ``nir`` is imported inside the functions only: ``import
fpsnn`` never needs it (``pip install 'fpsnn[nir]'``).

The parameter map, derived from the two sets of equations
----------------------------------------------------------
NIR's CubaLIF, with the time ``t`` in seconds and the input ``S = sum_k W delta(t - t_k)``:

.. math:: \tau_{syn}\dot I = -I + w_{in} S,\qquad \tau_{mem}\dot v = (v_{leak} - v) + r I,

firing when ``v`` reaches ``v_threshold``, then ``v = v_reset``. With ``v_leak = 0`` a spike through
weight ``W`` makes ``I`` jump by ``w_in W / tau_syn`` and then decay with ``tau_syn``; integrating the
membrane equation gives the post-synaptic potential

.. math:: v(t) = r\,w_{in}\,W\,\alpha_s\beta_s\,h_s(t),\quad
          h_s(t) = \frac{e^{-\alpha_s t} - e^{-\beta_s t}}{\beta_s - \alpha_s},\quad
          \alpha_s = 1/\tau_{syn},\ \beta_s = 1/\tau_{mem}.

fpsnn's neuron (README, "The model") adds ``w h(t - g)`` with the same ``h`` in its own time unit. With
``u`` seconds per fpsnn time unit (``time_unit_s``), ``t = u t_f``, ``alpha_s = alpha/u``,
``beta_s = beta/u`` and ``h_s(t) = u h(t_f)``, so the two agree exactly when

.. math:: \tau_{syn} = u/\alpha,\quad \tau_{mem} = u/\beta,\quad v_{threshold} = \theta,\quad
          v_{leak} = v_{reset} = 0,\quad w = W\,\frac{r\,w_{in}\,u}{\tau_{syn}\tau_{mem}}.

:func:`export` writes ``W = w`` unchanged, ``w_in = tau_syn`` (a spike raises the synaptic current by
exactly ``W``, as in every simulator that reads NIR) and ``r = 1/beta`` (``= tau_mem/u``), which makes
the factor 1. :func:`load` applies the general formula, per receiving neuron, to any graph.

Reset. fpsnn subtracts theta at a spike; NIR resets to ``v_reset = 0``. In continuous time a spike
happens exactly at ``V = theta``, so ``V - theta = 0 = v_reset``: the two coincide (the synaptic current
is not reset in either). That stops holding in a time-stepped consumer: it sees the threshold crossed
only at the end of a step, with an overshoot ``V > theta`` that reset-to-zero discards and
subtraction keeps, so such consumers agree with fpsnn to about one time step, not to rounding.

Units. NIR's times are seconds; fpsnn's are a dimensionless unit, mapped by ``time_unit_s`` (default
1e-3: one fpsnn unit is a millisecond) and recorded in the graph metadata with ``t_max``. The tools
disagree on what a NIR spike is (see docs/nir.md): the spec's Dirac delta (used here by default, and by
event-based consumers) or, in time-stepped tools (snnTorch, Norse, Rockpool), a one-step pulse of
height 1, i.e. a delta of area ``dt``, with Euler time constants ``tau = dt / (1 - decay per step)``
and ``r = tau_mem/dt``, ``w_in = tau_syn/dt``. Pass ``dt_s`` to :func:`export` / :func:`load` to write
or read that convention; fpsnn then matches the consumer's per-step decays exactly and its sampled
membrane potential at the step boundaries (``w = W u / (dt L(a, b))``, ``L`` the logarithmic mean of
the per-step decays ``a, b``), leaving only the sampling of spikes to the grid.

What fpsnn cannot represent is refused with a ValueError naming the node: convolutions, delays,
neurons without a synaptic current (LIF, IF, LI, I), non-zero ``v_leak`` or ``v_reset``, an Affine
bias, self-connections, branches, skip connections, several inputs or outputs.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .network import Network

__all__ = ["export", "load", "write", "read", "export_file", "load_network", "EXTRA", "DEFAULT_TIME_UNIT_S"]

EXTRA = "nir"
DEFAULT_TIME_UNIT_S = 1e-3
_TAG = "fpsnn-nir-1"


def _nir():
    """The ``nir`` package, or one line naming the pip extra."""
    try:
        import nir
    except ImportError:
        raise ImportError(f"NIR support needs the optional package nir: pip install 'fpsnn[{EXTRA}]'") from None
    return nir


def _positive(name: str, value) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} = {value!r}: must be a number (seconds)") from None
    if not np.isfinite(v) or v <= 0:
        raise ValueError(f"{name} = {value!r}: must be finite and > 0 (seconds)")
    return v


def _log_mean(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Logarithmic mean ``(a - b) / (ln a - ln b)`` of two per-step decays, ``a`` where they are equal."""
    d = a - b
    with np.errstate(divide="ignore", invalid="ignore"):
        out = d / np.log1p(d / b)
    return np.where(d == 0, a, out)


# ---------------------------------------------------------------------------------------- export
def _neuron_node(nir, alpha, beta, theta, u: float, dt: float | None):
    """A CubaLIF (CubaLI for a read-out) node for one layer, and the factor W = w * factor."""
    if dt is None:
        tau_syn, tau_mem = u / alpha, u / beta
        r, w_in, factor = 1.0 / beta, tau_syn.copy(), np.ones_like(alpha)
    else:
        a, b = np.exp(-alpha * (dt / u)), np.exp(-beta * (dt / u))
        tau_syn, tau_mem = dt / (1.0 - a), dt / (1.0 - b)
        r, w_in, factor = tau_mem / dt, tau_syn / dt, _log_mean(a, b) * (dt / u)
    zeros = np.zeros_like(alpha)
    meta = {"fpsnn_alpha": alpha.copy(), "fpsnn_beta": beta.copy()}
    if np.all(np.isinf(theta)):
        node = nir.CubaLI(tau_syn=tau_syn, tau_mem=tau_mem, r=r, v_leak=zeros, w_in=w_in, metadata=meta)
    else:
        node = nir.CubaLIF(tau_syn=tau_syn, tau_mem=tau_mem, r=r, v_leak=zeros, v_threshold=theta.copy(),
                           v_reset=zeros.copy(), w_in=w_in, metadata=meta)
    return node, factor


def export(net: Network, time_unit_s: float = DEFAULT_TIME_UNIT_S, dt_s: float | None = None):
    """The network as a ``nir.NIRGraph`` (parameter map: module docstring).

    Args:
        net: the network.
        time_unit_s: seconds per fpsnn time unit (NIR times are seconds).
        dt_s: None (default) writes the NIR spec's event semantics, read back bit-identically; a step in
            seconds writes the time-stepped convention of snnTorch / Norse (Euler time constants,
            ``r = tau_mem/dt``, ``w_in = tau_syn/dt``, weights rescaled), for those tools.

    Node names: ``input``, ``linear<l>``, ``cubalif<l>`` (``cubali<l>`` for a read-out), ``recurrent<l>``,
    ``output``. Graph metadata: ``fpsnn_format``, ``time_unit_s``, ``t_max`` (fpsnn units), ``t_max_s``,
    ``max_spikes`` (an int, or one per layer where the layers' caps differ), ``dt_s`` (0 = event
    semantics); each neuron node keeps ``fpsnn_alpha``/``fpsnn_beta``
    so that a graph nobody edited comes back without rounding (the NIR fields stay authoritative).
    """
    nir = _nir()
    if not isinstance(net, Network):
        raise ValueError(f"net: expected an fpsnn Network, got {type(net).__name__}")
    u = _positive("time_unit_s", time_unit_s)
    dt = None if dt_s is None else _positive("dt_s", dt_s)
    nodes = {"input": nir.Input(input_type={"input": np.array([net.n_inputs])})}
    edges, prev = [], "input"
    for l in range(net.n_layers):
        neuron, factor = _neuron_node(nir, net.alpha[l], net.beta[l], net.theta[l], u, dt)
        name = f"{'cubali' if net.readout and l == net.n_layers - 1 else 'cubalif'}{l}"
        w = net.weights[l] if dt is None else net.weights[l] * factor[None, :]
        nodes[f"linear{l}"] = nir.Linear(weight=np.ascontiguousarray(w.T))
        nodes[name] = neuron
        edges += [(prev, f"linear{l}"), (f"linear{l}", name)]
        rec = net.recurrent[l]
        if rec is not None:
            rec = rec if dt is None else rec * factor[None, :]
            nodes[f"recurrent{l}"] = nir.Linear(weight=np.ascontiguousarray(rec.T))
            edges += [(name, f"recurrent{l}"), (f"recurrent{l}", name)]
        prev = name
    nodes["output"] = nir.Output(output_type={"output": np.array([net.sizes[-1]])})
    edges.append((prev, "output"))
    meta = {"fpsnn_format": _TAG, "time_unit_s": u, "t_max": net.t_max, "t_max_s": net.t_max * u,
            "max_spikes": net.max_spikes if np.ndim(net.max_spikes) == 0 else list(net.max_spikes),
            "dt_s": 0.0 if dt is None else dt}
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata=meta)


def write(net: Network, path, time_unit_s: float = DEFAULT_TIME_UNIT_S, dt_s: float | None = None) -> Path:
    """Write ``export(net, ...)`` to a NIR (HDF5) file; returns the path."""
    graph = export(net, time_unit_s=time_unit_s, dt_s=dt_s)
    path = Path(path)
    _nir().write(path, graph)
    return path


def export_file(model_path, nir_path, time_unit_s: float = DEFAULT_TIME_UNIT_S, dt_s: float | None = None) -> Path:
    """``fpsnn export MODEL --nir FILE``: read an fpsnn model file, write its network as NIR."""
    from .io import load_model
    net, _ = load_model(model_path)
    return write(net, nir_path, time_unit_s=time_unit_s, dt_s=dt_s)


# ---------------------------------------------------------------------------------------- import
_WHY = {
    "Conv1d": "convolutions are not representable (fpsnn layers are dense)",
    "Conv2d": "convolutions are not representable (fpsnn layers are dense)",
    "Delay": "synaptic delays are not representable (fpsnn has none)",
    "LIF": "a neuron without a synaptic current is not representable (fpsnn's neuron is a CubaLIF)",
    "IF": "a neuron without leak or synaptic current is not representable (fpsnn's neuron is a CubaLIF)",
    "LI": "a leaky integrator without a synaptic current is not representable (use CubaLI)",
    "I": "an integrator is not representable (fpsnn's neuron is a CubaLIF)",
}


def _flatten(nir, nodes: dict, edges: list) -> tuple[dict, list]:
    """Inline nested NIRGraph nodes (snnTorch writes a recurrent layer as a sub-graph)."""
    while any(isinstance(n, nir.NIRGraph) for n in nodes.values()):
        key = next(k for k, n in nodes.items() if isinstance(n, nir.NIRGraph))
        sub = nodes.pop(key)
        ins = [f"{key}.{k}" for k, n in sub.nodes.items() if isinstance(n, nir.Input)]
        outs = [f"{key}.{k}" for k, n in sub.nodes.items() if isinstance(n, nir.Output)]
        if len(ins) != 1 or len(outs) != 1:
            raise ValueError(f"node '{key}' (sub-graph): needs exactly one Input and one Output node")
        inner = [(f"{key}.{a}", f"{key}.{b}") for a, b in sub.edges]
        after_in = [b for a, b in inner if a == ins[0]]
        before_out = [a for a, b in inner if b == outs[0]]
        new = [(a, b) for a, b in inner if a != ins[0] and b != outs[0]]
        for a, b in edges:
            if b == key:
                new += [(a, t) for t in after_in]
            elif a == key:
                new += [(s, b) for s in before_out]
            else:
                new.append((a, b))
        nodes.update({f"{key}.{k}": n for k, n in sub.nodes.items() if f"{key}.{k}" not in (ins[0], outs[0])})
        edges = new
    return nodes, list(dict.fromkeys(edges))


def _vec(node_key: str, node, field: str, n: int) -> np.ndarray:
    value = getattr(node, field, None)
    if value is None:
        raise ValueError(f"node '{node_key}' ({type(node).__name__}): field {field} is missing")
    arr = np.asarray(value, dtype=np.float64).reshape(-1)
    if arr.size not in (1, n):
        raise ValueError(f"node '{node_key}' ({type(node).__name__}): {field} has {arr.size} values, "
                         f"expected 1 or {n} (one per neuron)")
    return np.array(np.broadcast_to(arr, (n,)), dtype=np.float64)  # a writable copy


def _neuron_params(nir, key: str, node, n: int, u: float, dt: float | None):
    """``(alpha, beta, theta, factor)`` of one neuron node; fpsnn weight = NIR weight * factor."""
    kind = type(node).__name__
    f = {name: _vec(key, node, name, n) for name in ("tau_syn", "tau_mem", "r", "w_in", "v_leak")}
    for name in ("tau_syn", "tau_mem"):
        if not np.all(np.isfinite(f[name]) & (f[name] > 0)):
            raise ValueError(f"node '{key}' ({kind}): {name} must be finite and > 0 seconds")
    if np.any(f["v_leak"] != 0):
        raise ValueError(f"node '{key}' ({kind}): v_leak = {f['v_leak'][f['v_leak'] != 0][0]} is not representable "
                         f"(fpsnn's membrane relaxes to 0: v_leak must be 0)")
    if isinstance(node, nir.CubaLIF):
        theta = _vec(key, node, "v_threshold", n)
        v_reset = _vec(key, node, "v_reset", n)
        if np.any(v_reset != 0):
            raise ValueError(f"node '{key}' ({kind}): v_reset = {v_reset[v_reset != 0][0]} is not representable "
                             f"(fpsnn's reset is to 0: v_reset must be 0)")
        if not np.all(np.isfinite(theta) & (theta > 0)):
            raise ValueError(f"node '{key}' ({kind}): v_threshold must be finite and > 0")
    else:
        theta = np.full(n, np.inf)
    ts, tm = f["tau_syn"], f["tau_mem"]
    meta = getattr(node, "metadata", None) or {}
    if dt is None and "fpsnn_alpha" in meta and "fpsnn_beta" in meta:
        # written by export(): take the exact values if the NIR fields are what export derived from them
        alpha, beta = (np.asarray(meta[k], dtype=np.float64).reshape(-1) for k in ("fpsnn_alpha", "fpsnn_beta"))
        if (alpha.shape == beta.shape == (n,) and np.array_equal(ts, u / alpha) and np.array_equal(tm, u / beta)
                and np.array_equal(f["r"], 1.0 / beta) and np.array_equal(f["w_in"], ts)):
            return alpha, beta, theta, np.ones(n)
    if dt is None:
        return u / ts, u / tm, theta, f["r"] * f["w_in"] * u / (ts * tm)
    if np.any(ts <= dt) or np.any(tm <= dt):
        raise ValueError(f"node '{key}' ({kind}): tau_syn and tau_mem must exceed dt_s = {dt} (Euler decay 1 - dt/tau)")
    a, b = 1.0 - dt / ts, 1.0 - dt / tm
    gain = f["w_in"] * f["r"] * dt * dt / (ts * tm)
    return -np.log(a) * (u / dt), -np.log(b) * (u / dt), theta, gain * (u / dt) / _log_mean(a, b)


def _chain(nir, nodes: dict, edges: list):
    """``[(linear key, neuron key, recurrent key or None), ...]`` from Input to Output, else ValueError."""
    for key, node in nodes.items():
        kind = type(node).__name__
        if kind in _WHY:
            raise ValueError(f"node '{key}' ({kind}): {_WHY[kind]}")
        if not isinstance(node, (nir.Input, nir.Output, nir.Linear, nir.Affine, nir.CubaLIF, nir.CubaLI)):
            raise ValueError(f"node '{key}' ({kind}): not representable in fpsnn (supported: Input, Linear, "
                             f"Affine with zero bias, CubaLIF, CubaLI as the last layer, Output)")
        if isinstance(node, nir.Affine) and np.any(np.asarray(node.bias) != 0):
            raise ValueError(f"node '{key}' (Affine): a non-zero bias (a constant input current) is not representable")
    for which, cls in (("Input", nir.Input), ("Output", nir.Output)):
        found = [k for k, n in nodes.items() if isinstance(n, cls)]
        if len(found) != 1:
            raise ValueError(f"graph: needs exactly one {which} node, found {len(found)} {found}")
    succ = {k: [b for a, b in edges if a == k] for k in nodes}
    pred = {k: [a for a, b in edges if b == k] for k in nodes}
    is_neuron = lambda k: isinstance(nodes[k], (nir.CubaLIF, nir.CubaLI))  # noqa: E731
    is_linear = lambda k: isinstance(nodes[k], (nir.Linear, nir.Affine))  # noqa: E731
    chain, seen = [], set()
    cur = next(k for k, n in nodes.items() if isinstance(n, nir.Input))
    while not isinstance(nodes[cur], nir.Output):
        seen.add(cur)
        rec = _rec_of(cur, succ, pred, is_linear) if is_neuron(cur) else []
        nxt = [s for s in succ[cur] if s not in rec]
        if len(nxt) != 1:
            raise ValueError(f"node '{cur}': feeds {len(nxt)} nodes {nxt}; fpsnn needs a chain "
                             f"(no branches, no dead ends)")
        lin = nxt[0]
        if is_neuron(cur) and isinstance(nodes[lin], nir.Output):
            break
        if not is_linear(lin) or len(succ[lin]) != 1 or not is_neuron(succ[lin][0]):
            raise ValueError(f"node '{lin}' ({type(nodes[lin]).__name__}) after '{cur}': expected a Linear/Affine "
                             f"node feeding a CubaLIF/CubaLI node")
        neuron = succ[lin][0]
        recs = _rec_of(neuron, succ, pred, is_linear)
        others = [p for p in pred[neuron] if p != lin and p not in recs]
        if others or neuron in seen:
            raise ValueError(f"node '{neuron}': has inputs {pred[neuron]}; fpsnn takes one feed-forward input "
                             f"per layer (plus its own recurrent Linear): no skip connections")
        if isinstance(nodes[cur], nir.CubaLI):
            raise ValueError(f"node '{cur}' (CubaLI): a non-firing read-out must be the last layer")
        if len(recs) > 1:
            raise ValueError(f"node '{neuron}': has {len(recs)} recurrent Linear nodes {recs}; expected at most one")
        chain.append((lin, neuron, recs[0] if recs else None))
        cur = neuron
    if not chain:
        raise ValueError("graph: no CubaLIF/CubaLI layer between Input and Output")
    return chain


def _rec_of(neuron, succ, pred, is_linear) -> list:
    """The Linear nodes that take ``neuron``'s spikes and feed only ``neuron`` back (its recurrence)."""
    return [s for s in succ[neuron] if is_linear(s) and succ[s] == [neuron] and pred[s] == [neuron]]


def _meta(graph, key, default=None):
    value = (getattr(graph, "metadata", None) or {}).get(key, default)
    return value.decode() if isinstance(value, bytes) else value


def load(source, t_max: float | None = None, time_unit_s: float | None = None, dt_s: float | None = None,
         max_spikes=None) -> Network:
    """A Network from a ``nir.NIRGraph`` or a NIR file (parameter map: module docstring).

    Args:
        source: a ``nir.NIRGraph`` or the path of a file written by ``nir.write``.
        t_max: simulation window in fpsnn time units; default: the graph's ``t_max`` metadata (graphs
            written by fpsnn); required for other graphs (NIR has no simulation window).
        time_unit_s: seconds per fpsnn time unit; default: the graph's metadata, else 1e-3.
        dt_s: None reads the NIR spec's event semantics; a step in seconds reads a graph written by a
            time-stepped tool (snnTorch, Norse: one-step spikes, Euler time constants). Default: the
            graph's ``dt_s`` metadata when fpsnn wrote it with a step.
        max_spikes: most spikes per neuron, an int or one per layer (``Network``'s ``max_spikes``);
            default: the graph's metadata, else 16.
    """
    nir = _nir()
    if isinstance(source, (str, Path)):
        path = Path(source)
        if not path.is_file():
            raise ValueError(f"{path}: no such NIR file")
        try:
            graph = nir.read(path)
        except Exception as exc:  # h5py / nir raise many types for a file that is not NIR
            raise ValueError(f"{path}: not a readable NIR file ({type(exc).__name__}: {exc})") from None
    elif isinstance(source, nir.NIRGraph):
        graph = source
    else:
        raise ValueError(f"source: expected a nir.NIRGraph or a file path, got {type(source).__name__}")
    ours = _meta(graph, "fpsnn_format") == _TAG
    u = _positive("time_unit_s", time_unit_s if time_unit_s is not None
                  else _meta(graph, "time_unit_s", DEFAULT_TIME_UNIT_S) if ours else DEFAULT_TIME_UNIT_S)
    if dt_s is None and ours and float(_meta(graph, "dt_s", 0.0)) > 0:
        dt_s = float(_meta(graph, "dt_s"))
    dt = None if dt_s is None else _positive("dt_s", dt_s)
    if t_max is None:
        if not ours:
            raise ValueError("t_max: this graph was not written by fpsnn and NIR has no simulation window; "
                             "pass t_max (fpsnn time units)")
        t_max = float(_meta(graph, "t_max"))
    if max_spikes is None:
        stored = _meta(graph, "max_spikes", 16) if ours else 16
        # HDF5 gives a per-layer list back as an array: Network checks every entry
        max_spikes = int(stored) if np.ndim(stored) == 0 else np.asarray(stored).tolist()
    nodes, edges = _flatten(nir, dict(graph.nodes), [tuple(e) for e in graph.edges])
    weights, recurrent, alpha, beta, theta = [], [], [], [], []
    for lin, neuron, rec in _chain(nir, nodes, edges):
        w = np.asarray(nodes[lin].weight, dtype=np.float64)
        if w.ndim != 2:
            raise ValueError(f"node '{lin}': weight must be 2-d (n_out, n_in), got shape {w.shape}")
        n = w.shape[0]
        a, b, th, factor = _neuron_params(nir, neuron, nodes[neuron], n, u, dt)
        weights.append(w.T * factor[None, :] if np.any(factor != 1) else w.T.copy())
        if rec is not None:
            r = np.asarray(nodes[rec].weight, dtype=np.float64)
            if r.shape != (n, n):
                raise ValueError(f"node '{rec}': recurrent weight must be ({n}, {n}), got {r.shape}")
            if np.any(np.diag(r) != 0):
                raise ValueError(f"node '{rec}': self-connections (non-zero diagonal) are not representable "
                                 f"(an fpsnn neuron's own spikes act only through its reset)")
            recurrent.append(r.T * factor[None, :] if np.any(factor != 1) else r.T.copy())
        else:
            recurrent.append(None)
        alpha.append(a), beta.append(b), theta.append(th)
    return Network(weights=weights, alpha=alpha, beta=beta, theta=theta, t_max=t_max,
                   recurrent=recurrent, max_spikes=max_spikes)


def read(path, **kwargs) -> Network:
    """``load(path, ...)`` for a NIR file."""
    return load(Path(path), **kwargs)


def load_network(path_or_graph, **kwargs) -> Network:
    """For the CLI (``fpsnn train --init FILE.nir``, ``fpsnn deploy FILE.nir``): same as :func:`load`."""
    return load(path_or_graph, **kwargs)
