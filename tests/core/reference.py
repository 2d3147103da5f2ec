r"""Independent brute-force reference for the fpsnn core (test oracle; plain numpy + scipy, slow on purpose).

Nothing here imports the core's simulator or gradients: it is written from the model equations only
(Lee, Haghighatshoar & Karbasi, AISTATS 2023, section 2, and the ``fpsnn.network`` docstring), so agreement with the core
is evidence, not tautology.

Model (per neuron ``i`` with its own ``alpha_i``, ``beta_i``, ``theta_i``; the synapse belongs to the
RECEIVING neuron)::

    V_i(t) = sum_j W_ji sum_{g in F_j, g < t} h_i(t - g)  -  theta_i sum_{m in F_i, m < t} exp(-beta_i (t - m))
    h_i(t) = (exp(-alpha_i t) - exp(-beta_i t)) / (beta_i - alpha_i)          (t exp(-alpha_i t) if equal)

A neuron fires when ``V_i`` reaches ``theta_i`` from below; spikes are searched on ``[0, t_max]``; a neuron
stops firing after ``max_spikes`` spikes (one cap for every layer, or one per layer).

Simulation method (:func:`simulate_reference`)
-----------------------------------------------
Events are produced one at a time in GLOBAL time order: from the time of the last event ``t_cur`` every
neuron's ``V_i - theta_i`` is evaluated directly from the formula above with all spikes found so far, on a
fine grid ``t_cur, t_cur + dt, ...`` (default ``dt = 0.01 / max(1, alpha, beta)``, i.e. 1/100 of the fastest
time constant) that ALSO contains every time at which neuron ``i`` receives a spike (input or
presynaptic). The earliest crossing over all neurons becomes the next spike (refined with
``scipy.optimize.brentq`` to ``xtol = 1e-15``), it is delivered to its targets, and the search restarts
from there (only the neurons that the new spike reaches have to be re-searched; the others' potentials
before their own next crossing are unchanged).

Crossings between grid points.  Because the grid contains every event of neuron ``i`` and no spike can
happen before the earliest crossing, a grid cell contains no event in its interior, so in the cell
``V_i(t) = A exp(-alpha_i t) + B exp(-beta_i t)`` (or ``(A + B t) exp(-alpha_i t)``) -- the receiving-
neuron synapse is what makes this true. Such a function has at most one critical point, so ``V - theta``
has at most two zeros in a cell. Hence a cell holds an up-crossing iff either ``V - theta`` goes from
``< 0`` to ``>= 0`` across the cell (exactly one zero) or it is negative at both ends while ``V'`` goes from
``> 0`` to ``< 0`` (an interior maximum, located with brentq on ``V'``) and ``V(t*) >= theta``: a neuron
that dips above and below theta inside one grid cell is therefore NOT missed, whatever ``dt``. The grid
resolution only has to be fine enough for floating point (a cell is never longer than 1/100 of a time
constant, so ``V`` is evaluated where it is well conditioned). The one residual assumption is
non-tangency: a maximum that touches ``theta`` within rounding (``|V_max - theta| ~ 1e-15``) is
undecidable in floating point; :attr:`ReferenceResult.margins` reports how close the run came to such
cases so that tests can skip them (they are exactly the points where the spike count is discontinuous).

Also here: :func:`reference_jacobian` (dense implicit-function-theorem solve of the firing-time equations,
paper eq. 10, with ``numpy.linalg.solve``: no triangular structure exploited) and
:func:`central_difference` (finite differences of any scalar function of the weights).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import brentq

__all__ = [
    "kernel", "kernel_deriv", "simulate_reference", "reference_from_network", "ReferenceResult",
    "reference_jacobian", "central_difference", "lif_ode_first_spikes", "closed_form_spikes",
    "RATE_KINDS", "rates_for", "peak_weight", "random_case",
]

_XTOL = 1e-15
_RTOL = 4 * np.finfo(float).eps


# ----------------------------------------------------------------------------- kernels
def kernel(t, alpha, beta):
    """Joint PSP kernel ``h(t)`` (0 for ``t <= 0``), numerically stable for ``alpha ~ beta``.

    With ``m = min(alpha, beta)``, ``d = |beta - alpha|``:  ``h(t) = exp(-m t) * (-expm1(-d t)) / d``
    (both orderings reduce to the textbook form; ``d = 0`` gives the limit ``t exp(-alpha t)``). Factoring
    out the SLOWER exponential keeps every factor <= 1, so nothing overflows for large ``|beta - alpha| t``,
    and ``expm1`` keeps full relative precision when ``d t`` is tiny (no 1/(beta - alpha) cancellation).
    """
    t = np.asarray(t, dtype=np.float64)
    tp = np.where(t > 0, t, 0.0)
    m = min(alpha, beta)
    d = abs(beta - alpha)
    g = tp if d == 0 else -np.expm1(-d * tp) / d
    return np.where(t > 0, np.exp(-m * tp) * g, 0.0)


def kernel_deriv(t, alpha, beta, at_zero: float = 0.0):
    """``h'(t) = exp(-m t) (exp(-d t) - m g(t))`` for ``t > 0`` (``g`` as in :func:`kernel`), 0 for ``t < 0``.

    ``h'`` jumps from 0 to 1 at ``t = 0``; ``at_zero`` is the value used there (0: left limit, 1: right).
    """
    t = np.asarray(t, dtype=np.float64)
    tp = np.where(t > 0, t, 0.0)
    m = min(alpha, beta)
    d = abs(beta - alpha)
    g = tp if d == 0 else -np.expm1(-d * tp) / d
    val = np.exp(-m * tp) * (np.exp(-d * tp) - m * g)
    return np.where(t > 0, val, np.where(t == 0, at_zero, 0.0))


# ----------------------------------------------------------------------------- network bookkeeping
def _broadcast(name, value, sizes):
    if np.ndim(value) == 0:
        value = [value] * len(sizes)
    out = []
    for v, n in zip(value, sizes):
        out.append(np.array(np.broadcast_to(np.asarray(v, dtype=np.float64), (n,))))
    return out


class _Neuron:
    __slots__ = ("layer", "index", "alpha", "beta", "theta", "src_t", "src_w", "src_id", "own", "targets")

    def __init__(self, layer, index, alpha, beta, theta):
        self.layer, self.index = layer, index
        self.alpha, self.beta, self.theta = float(alpha), float(beta), float(theta)
        self.src_t: list[float] = []   # arrival times of incoming spikes (inputs and presynaptic neurons)
        self.src_w: list[float] = []   # their weights
        self.src_id: list[tuple] = []  # who sent them: ("in", channel) or ("n", global neuron id)
        self.own: list[float] = []     # own spike times
        self.targets: list[tuple[int, float]] = []  # (global neuron id, weight) this neuron projects to

    # V and V' straight from the formula. ``own_inclusive`` decides whether an own spike at exactly t
    # has already reset V (right limit) -- inputs do not matter there since h(0) = 0.
    def V(self, T, own_inclusive=False):
        T = np.atleast_1d(np.asarray(T, dtype=np.float64))
        v = np.zeros_like(T)
        if self.src_t:
            g = np.asarray(self.src_t)
            w = np.asarray(self.src_w)
            v = v + kernel(T[:, None] - g[None, :], self.alpha, self.beta) @ w
        if self.own:
            m = np.asarray(self.own)
            dtm = T[:, None] - m[None, :]
            mask = (dtm >= 0) if own_inclusive else (dtm > 0)
            v = v - self.theta * np.sum(np.where(mask, np.exp(-self.beta * np.where(mask, dtm, 0.0)), 0.0), axis=1)
        return v

    def dV(self, T, right=False):
        """dV/dt; at an input arrival time the left (``right=False``) or right limit."""
        T = np.atleast_1d(np.asarray(T, dtype=np.float64))
        v = np.zeros_like(T)
        if self.src_t:
            g = np.asarray(self.src_t)
            w = np.asarray(self.src_w)
            v = v + kernel_deriv(T[:, None] - g[None, :], self.alpha, self.beta, at_zero=1.0 if right else 0.0) @ w
        if self.own:
            m = np.asarray(self.own)
            dtm = T[:, None] - m[None, :]
            mask = (dtm >= 0) if right else (dtm > 0)
            v = v + self.theta * self.beta * np.sum(
                np.where(mask, np.exp(-self.beta * np.where(mask, dtm, 0.0)), 0.0), axis=1)
        return v


@dataclass
class ReferenceResult:
    """Output of :func:`simulate_reference` for ONE sample.

    times[l]: (n_l, k_l) sorted spike times, inf padded (k_l >= 1).
    events: [(t, layer, index)] in global time order.
    margins: dict of how close the run came to a discontinuity of the spike count:
        ``min_slope``   min over spikes of V'(f-) / theta (small: near-tangent crossing, ill-conditioned);
        ``min_miss``    min over non-crossing local maxima of (theta - V_max) / theta (small: a spike is about
                        to appear under perturbation);
        ``min_tmax``    min over neurons of the distance of a spike to t_max, and of (theta - V(t_max))/theta
                        when V is still rising at t_max (small: a spike about to enter/leave the window);
        ``capped``      number of neurons that hit max_spikes.
    """

    times: list
    events: list
    margins: dict = field(default_factory=dict)
    neurons: list = field(default_factory=list, repr=False)
    layer_offsets: list = field(default_factory=list, repr=False)

    def counts(self):
        return [np.sum(np.isfinite(t), axis=1) for t in self.times]


def _build(weights, x, alpha, beta, theta, recurrent):
    weights = [np.asarray(w, dtype=np.float64) for w in weights]
    sizes = [w.shape[1] for w in weights]
    alpha = _broadcast("alpha", alpha, sizes)
    beta = _broadcast("beta", beta, sizes)
    theta = _broadcast("theta", theta, sizes)
    if recurrent is None:
        recurrent = [None] * len(sizes)
    neurons, offsets = [], []
    for l, n in enumerate(sizes):
        offsets.append(len(neurons))
        for i in range(n):
            neurons.append(_Neuron(l, i, alpha[l][i], beta[l][i], theta[l][i]))
    for l, n in enumerate(sizes):
        if l + 1 < len(sizes):
            for i in range(n):
                for j in range(sizes[l + 1]):
                    neurons[offsets[l] + i].targets.append((offsets[l + 1] + j, weights[l + 1][i, j]))
        if recurrent[l] is not None:
            R = np.asarray(recurrent[l], dtype=np.float64)
            for i in range(n):
                for j in range(n):
                    if i != j:
                        neurons[offsets[l] + i].targets.append((offsets[l] + j, R[i, j]))
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 1:
        x = x[:, None]
    for c in range(x.shape[0]):
        for g in x[c]:
            if np.isfinite(g):
                for j in range(sizes[0]):
                    nj = neurons[offsets[0] + j]
                    nj.src_t.append(float(g))
                    nj.src_w.append(float(weights[0][c, j]))
                    nj.src_id.append(("in", c))
    return weights, sizes, neurons, offsets


def _grid(nrn: _Neuron, t0: float, t1: float, dt: float):
    pts = np.arange(t0, t1, dt)
    ev = np.asarray([g for g in nrn.src_t if t0 < g < t1], dtype=np.float64)
    return np.unique(np.concatenate([pts, ev, [t0, t1]]))


def _first_crossing(nrn: _Neuron, t0: float, t1: float, dt: float, chunk: int = 400):
    """Earliest up-crossing of theta by neuron ``nrn`` in [t0, t1] given its current inputs, or None."""
    th = nrn.theta
    G = _grid(nrn, t0, t1, dt)
    for start in range(0, len(G) - 1, chunk):
        T = G[start:start + chunk + 1]
        vL = nrn.V(T) - th                       # left limits (own spikes at t are not yet subtracted)
        vR = nrn.V(T, own_inclusive=True) - th   # right limits (differs only at own spike times)
        dR = nrn.dV(T, right=True)
        dL = nrn.dV(T, right=False)
        if start == 0 and vR[0] >= 0:
            return t0  # already at/above threshold at the window start: simultaneous within rounding
        s0, s1 = vR[:-1], vL[1:]
        up = (s0 < 0) & (s1 >= 0)                                   # exactly one zero in the cell
        bump = (s0 < 0) & (s1 < 0) & (dR[:-1] > 0) & (dL[1:] < 0)   # interior maximum: maybe two zeros
        for k in np.flatnonzero(up | bump):
            a, b = T[k], T[k + 1]
            if up[k]:
                return brentq(lambda t: nrn.V(t, own_inclusive=True)[0] - th, a, b, xtol=_XTOL, rtol=_RTOL)
            tstar = brentq(lambda t: nrn.dV(t)[0], a, b, xtol=_XTOL, rtol=_RTOL)
            if nrn.V(tstar, own_inclusive=True)[0] - th >= 0:
                return brentq(lambda t: nrn.V(t, own_inclusive=True)[0] - th, a, tstar, xtol=_XTOL, rtol=_RTOL)
    return None


def simulate_reference(weights, x, alpha=1.0, beta=1.0, theta=1.0, t_max=1.0, recurrent=None,
                       max_spikes=10 ** 6, dt=None) -> ReferenceResult:
    """Brute-force event-by-event simulation of ONE sample (see the module docstring).

    Args:
        weights: list of (n_{l-1}, n_l) arrays. recurrent: list of (n_l, n_l) or None.
        x: input spike times, (n_in,) or (n_in, k); inf = no spike.
        alpha, beta, theta: scalar, or per-layer list of scalars / (n_l,) arrays. theta = inf: never fires.
        dt: grid step (default 1/100 of the fastest time constant, at most 0.01).
        max_spikes: most spikes per neuron: one int for every layer, or one per layer.
    """
    weights, sizes, neurons, offsets = _build(weights, x, alpha, beta, theta, recurrent)
    caps = list(max_spikes) if np.ndim(max_spikes) else [max_spikes] * len(sizes)
    t_max = float(t_max)
    if dt is None:
        fastest = max(max(max(n.alpha, n.beta) for n in neurons), 1.0)
        dt = 0.01 / fastest
    events = []
    cache: dict[int, float | None] = {}
    t_cur = 0.0
    while True:
        best_t, best_n = None, None
        for gid, nrn in enumerate(neurons):
            if not np.isfinite(nrn.theta) or len(nrn.own) >= caps[nrn.layer]:
                continue
            if gid not in cache:
                cache[gid] = _first_crossing(nrn, t_cur, t_max, dt)
            c = cache[gid]
            if c is not None and (best_t is None or c < best_t):
                best_t, best_n = c, gid
        if best_t is None:
            break
        nrn = neurons[best_n]
        nrn.own.append(best_t)
        events.append((best_t, nrn.layer, nrn.index))
        t_cur = best_t
        cache.pop(best_n, None)
        for tgt, w in nrn.targets:
            neurons[tgt].src_t.append(best_t)
            neurons[tgt].src_w.append(float(w))
            neurons[tgt].src_id.append(("n", best_n))
            cache.pop(tgt, None)
    times = []
    for l, n in enumerate(sizes):
        k = max([1] + [len(neurons[offsets[l] + i].own) for i in range(n)])
        arr = np.full((n, k), np.inf)
        for i in range(n):
            own = sorted(neurons[offsets[l] + i].own)
            arr[i, :len(own)] = own
        times.append(arr)
    res = ReferenceResult(times=times, events=events, neurons=neurons, layer_offsets=offsets)
    res.margins = _margins(neurons, t_max, dt, caps)
    return res


def _margins(neurons, t_max, dt, caps):
    min_slope, min_miss, min_tmax, capped = np.inf, np.inf, np.inf, 0
    for nrn in neurons:
        if not np.isfinite(nrn.theta):
            continue
        max_spikes = caps[nrn.layer]
        th = nrn.theta
        if len(nrn.own) >= max_spikes:
            capped += 1
        for f in nrn.own:
            min_slope = min(min_slope, nrn.dV(f)[0] / th)
            min_tmax = min(min_tmax, t_max - f)
        active_end = t_max if len(nrn.own) < max_spikes else max(nrn.own)
        # local maxima of V that do not cross theta, on [0, active_end] with the final spike set
        G = np.unique(np.concatenate([np.arange(0.0, active_end, dt), [active_end], list(nrn.own),
                                      [g for g in nrn.src_t if 0 < g < active_end]]))
        vL = nrn.V(G)
        vR = nrn.V(G, own_inclusive=True)
        dR = nrn.dV(G, right=True)
        dL = nrn.dV(G, right=False)
        for k in np.flatnonzero((dR[:-1] > 0) & (dL[1:] <= 0)):   # maximum in (G[k], G[k+1]]
            ts = G[k + 1] if dL[k + 1] == 0 else brentq(lambda t: nrn.dV(t)[0], G[k], G[k + 1],
                                                        xtol=_XTOL, rtol=_RTOL)
            vm = nrn.V(ts)[0]
            if vm < th:
                min_miss = min(min_miss, (th - vm) / th)
        kink = (dL[1:-1] > 0) & (dR[1:-1] <= 0) & (vR[1:-1] < th)     # kink maximum at an arrival time
        if np.any(kink):
            min_miss = min(min_miss, float(np.min((th - vR[1:-1][kink]) / th)))
        if len(nrn.own) < max_spikes and dL[-1] > 0:
            min_tmax = min(min_tmax, (th - vL[-1]) / th)
    return {"min_slope": min_slope, "min_miss": min_miss, "min_tmax": min_tmax, "capped": capped}


def reference_from_network(net, x_sample, dt=None) -> ReferenceResult:
    """Run :func:`simulate_reference` on the parameters of a ``fpsnn.Network`` (attributes only)."""
    return simulate_reference(net.weights, x_sample, alpha=net.alpha, beta=net.beta, theta=net.theta,
                              t_max=net.t_max, recurrent=net.recurrent, max_spikes=net.spike_caps, dt=dt)


# ----------------------------------------------------------------------------- dense IFT Jacobian
def reference_jacobian(res: ReferenceResult, weights, recurrent=None):
    """Exact dF/dW by the implicit function theorem with a DENSE solve (paper eq. 10).

    Builds, for the spikes of ``res`` in global time order, ``L = dV/dF`` (|F| x |F|) and ``P = dV/dW``
    (|F| x n_params) from the firing-time equations (paper-notes section 2) and returns
    ``J = -solve(L, P)``, with:

    * ``J_weights[l]``: (|F|, *W_l.shape); ``J_recurrent[l]``: (|F|, n_l, n_l) or None;
    * ``L`` itself (so tests can inspect the causal pattern) and the event list.
    """
    weights = [np.asarray(w, dtype=np.float64) for w in weights]
    if recurrent is None:
        recurrent = [None] * len(weights)
    neurons, offsets = res.neurons, res.layer_offsets
    ev = res.events
    nF = len(ev)
    # index of each spike: (global neuron id, time) -> row
    row = {}
    for r, (t, l, i) in enumerate(ev):
        row[(offsets[l] + i, t)] = r
    # parameter layout
    blocks, off = [], 0
    for l, w in enumerate(weights):
        blocks.append(("w", l, off, w.shape))
        off += w.size
        if recurrent[l] is not None:
            blocks.append(("r", l, off, recurrent[l].shape))
            off += recurrent[l].size
    pos = {(kind, l): (o, shp) for kind, l, o, shp in blocks}
    L = np.zeros((nF, nF))
    P = np.zeros((nF, off))
    for r, (f, l, i) in enumerate(ev):
        nrn = neurons[offsets[l] + i]
        a, b, th = nrn.alpha, nrn.beta, nrn.theta
        diag = 0.0
        for g, w, sid in zip(nrn.src_t, nrn.src_w, nrn.src_id):
            if not g < f:
                continue
            hp = kernel_deriv(f - g, a, b)[()]
            diag += w * hp
            hv = kernel(f - g, a, b)[()]
            if sid[0] == "in":
                o, shp = pos[("w", 0)]
                P[r, o + sid[1] * shp[1] + i] += hv
            else:
                src = neurons[sid[1]]
                if src.layer == l:   # recurrent
                    o, shp = pos[("r", l)]
                else:
                    o, shp = pos[("w", l)]
                P[r, o + src.index * shp[1] + i] += hv
                L[r, row[(sid[1], g)]] += -w * hp
        for m in nrn.own:
            if m < f:
                e = th * b * np.exp(-b * (f - m))
                diag += e
                L[r, row[(offsets[l] + i, m)]] += -e
        L[r, r] += diag
    J = -np.linalg.solve(L, P) if nF else np.zeros((0, off))
    Jw, Jr = [], []
    for l, w in enumerate(weights):
        o, shp = pos[("w", l)]
        Jw.append(J[:, o:o + w.size].reshape((nF,) + shp))
        if recurrent[l] is not None:
            o, shp = pos[("r", l)]
            Jr.append(J[:, o:o + recurrent[l].size].reshape((nF,) + shp))
        else:
            Jr.append(None)
    return {"weights": Jw, "recurrent": Jr, "L": L, "P": P, "events": ev}


# ----------------------------------------------------------------------------- finite differences
def central_difference(fun, params, h_rel=1e-6, masks=None, richardson=False):
    """Central finite differences of a scalar function of a list of arrays.

    ``fun(params) -> float`` where ``params`` is a list of arrays (``None`` entries are skipped and give
    ``None``). Each entry ``p`` of array ``P`` is perturbed by ``+-h`` with ``h = h_rel * max(1, max|P|)``
    (a step relative to the array's weight scale, the same for all its entries so that the error analysis
    holds uniformly):

    * truncation error of the central difference: ``|f'''| h^2 / 6 ~ 1e-12`` (relative, for O(1) third
      derivatives and h ~ 1e-6);
    * rounding error: ``eps_f |f| / h`` where ``eps_f`` is the relative accuracy of ``fun``; for spike
      times found to ~1e-15 this is ~1e-9 relative -- three orders below the 1e-6 test tolerance.

    ``richardson=True``: return ``(4 D(h/2) - D(h)) / 3`` (``D`` = the central difference), which cancels
    the h^2 term: truncation O(h^4 |f^(5)|). Use it with ``h_rel ~ 1e-5``: near-tangent spikes have huge
    higher derivatives (an observed case: |f'''| h^2 / 6 ~ 3e-7 relative at h = 1e-6), while rounding stays
    ~ eps_f / h ~ 1e-10. Costs 4 evaluations per entry instead of 2.

    ``masks`` (optional, like ``params``; None entries = all): only entries where the mask is True are
    perturbed, the others get 0 (e.g. the zero diagonal of a recurrent matrix, which must stay zero).

    Returns the gradients as a list shaped like ``params``. To skip points where the spike count changes
    under the perturbation, let ``fun`` record (or raise on) such a change (see tests/core/test_gradients_fd.py).
    """
    params = [None if p is None else np.array(p, dtype=np.float64) for p in params]
    grads = []
    for k, P in enumerate(params):
        if P is None:
            grads.append(None)
            continue
        h = h_rel * max(1.0, float(np.max(np.abs(P))) if P.size else 1.0)
        G = np.zeros_like(P)
        M = None if masks is None or masks[k] is None else np.asarray(masks[k], dtype=bool)
        for idx in np.ndindex(P.shape):
            if M is not None and not M[idx]:
                continue
            old = P[idx]
            def D(step):
                P[idx] = old + step
                fp = fun(params)
                P[idx] = old - step
                fm = fun(params)
                P[idx] = old
                return (fp - fm) / (2 * step)
            G[idx] = (4 * D(h / 2) - D(h)) / 3 if richardson else D(h)
        grads.append(G)
    return grads


# ----------------------------------------------------------------------------- ODE cross-check
def lif_ode_first_spikes(w, g, alpha, beta, theta, t_max, n_spikes=5, rtol=1e-12, atol=1e-14):
    """Spike times of ONE neuron from the LIF ODE (an independent formulation of the same model).

    ``I' = -alpha I`` with ``I += w_k`` at input spike ``g_k``; ``V' = -beta V + I``; when ``V`` reaches
    ``theta`` (scipy event, terminal) ``V -= theta``. Integrated with ``solve_ivp(DOP853)``. Used only to
    sanity-check the kernel formulation of :func:`simulate_reference`; accuracy ~1e-10.
    """
    from scipy.integrate import solve_ivp

    order = np.argsort(g)
    g = np.asarray(g, dtype=float)[order]
    w = np.asarray(w, dtype=float)[order]
    # pending input jumps keyed by time
    state = np.array([0.0, 0.0])  # (I, V)
    for x, ww in zip(g, w):
        if x <= 0.0:
            state[0] += ww
    spikes = []
    t0 = 0.0
    kidx = int(np.sum(g <= 0.0))

    def rhs(t, y):
        return [-alpha * y[0], -beta * y[1] + y[0]]

    def ev(t, y):
        return y[1] - theta
    ev.terminal = True
    ev.direction = 1
    while t0 < t_max and len(spikes) < n_spikes:
        t1 = float(g[kidx]) if kidx < len(g) and g[kidx] < t_max else t_max
        if t1 > t0:
            sol = solve_ivp(rhs, (t0, t1), state, method="DOP853", events=ev, rtol=rtol, atol=atol)
            if sol.t_events[0].size:
                ts = float(sol.t_events[0][0])
                spikes.append(ts)
                state = sol.y_events[0][0].copy()
                state[1] -= theta   # V = 0 after the reset, so the event is not re-detected
                t0 = ts
                continue
            state = sol.y[:, -1].copy()
        t0 = t1
        if kidx < len(g) and g[kidx] == t1:
            state[0] += w[kidx]
            kidx += 1
        elif t1 >= t_max:
            break
    return np.asarray(spikes)


# ----------------------------------------------------------------------------- closed forms (one neuron, one input)
def closed_form_spikes(kind, w, rate, theta, t0=0.0, t_max=np.inf, n_max=50):
    """All spike times of ONE neuron driven by ONE input spike (time ``t0``, weight ``w``), by hand.

    ``kind``:
      * ``"alpha=2beta"`` (``rate = beta``, ``alpha = 2 beta``), with ``u = exp(-beta (t - t0))``:
        ``h = (u - u^2)/beta`` and a reset at ``m`` contributes ``-theta u / u_m``, so after spikes with
        ``S = sum 1/u_m`` the next one solves the quadratic ``(w/beta) u^2 - (w/beta - theta S) u + theta = 0``;
        it is its LARGER root (time runs from u = u_last downwards and ``V - theta`` is a concave parabola in u);
      * ``"beta=2alpha"`` (``rate = alpha``), with ``u = exp(-alpha (t - t0))``: ``h = (u - u^2)/alpha``,
        a reset contributes ``-theta u^2/u_m^2``: ``(w/alpha + theta S2) u^2 - (w/alpha) u + theta = 0``,
        ``S2 = sum 1/u_m^2``, larger root again;
      * ``"alpha=beta"`` (``rate = alpha``), with ``s = t - t0``: ``V = (w s - theta C) exp(-alpha s)``,
        ``C = sum exp(alpha s_m)``. Setting ``s = r + theta C / w`` gives ``r exp(-alpha r) = q``,
        ``q = theta exp(alpha theta C / w) / w``, so ``r = -W_0(-alpha q) / alpha`` (principal Lambert branch:
        the rising side, ``r < 1/alpha``); no spike when ``alpha q > 1/e``.
    Stops when there is no real root after the last spike or the spike is beyond ``t_max``.
    """
    from scipy.special import lambertw

    out = []
    for _ in range(n_max):
        if kind == "alpha=2beta":
            b = rate
            us = np.exp(-b * (np.asarray(out) - t0)) if out else np.zeros(0)
            S = float(np.sum(1.0 / us))
            A, B, C = w / b, -(w / b - theta * S), theta
            disc = B * B - 4 * A * C
            if A <= 0 or disc < 0:
                break
            u = (-B + np.sqrt(disc)) / (2 * A)
            if not (0 < u < (us[-1] if out else 1.0)):
                break
            t = t0 - np.log(u) / b
        elif kind == "beta=2alpha":
            a = rate
            us = np.exp(-a * (np.asarray(out) - t0)) if out else np.zeros(0)
            S2 = float(np.sum(1.0 / us ** 2))
            A, B, C = w / a + theta * S2, -w / a, theta
            disc = B * B - 4 * A * C
            if w <= 0 or disc < 0:
                break
            u = (-B + np.sqrt(disc)) / (2 * A)
            if not (0 < u < (us[-1] if out else 1.0)):
                break
            t = t0 - np.log(u) / a
        elif kind == "alpha=beta":
            a = rate
            if w <= 0:
                break
            Cs = float(np.sum(np.exp(a * (np.asarray(out) - t0)))) if out else 0.0
            q = theta * np.exp(a * theta * Cs / w) / w
            if a * q > np.exp(-1.0):
                break
            r = -lambertw(-a * q, 0).real / a
            t = t0 + r + theta * Cs / w
            if out and not t > out[-1]:
                break
        else:
            raise ValueError(f"kind: unknown closed form {kind!r}")
        if t > t_max:
            break
        out.append(float(t))
    return np.asarray(out)


# ----------------------------------------------------------------------------- random test cases
RATE_KINDS = ("a>b", "a<b", "a=b", "a=0.999b", "a=2b", "b=2a")


def rates_for(kind, rng):
    """(alpha, beta) for one of :data:`RATE_KINDS` (1/time-unit, time constants ~0.5-2)."""
    if kind == "a>b":
        a = rng.uniform(1.0, 2.0)
        return a, a * rng.uniform(0.4, 0.8)
    if kind == "a<b":
        b = rng.uniform(1.0, 2.0)
        return b * rng.uniform(0.4, 0.8), b
    if kind == "a=b":
        a = rng.uniform(0.7, 1.5)
        return a, a
    if kind == "a=0.999b":
        b = rng.uniform(0.7, 1.5)
        return 0.999 * b, b
    if kind == "a=2b":
        b = rng.uniform(0.5, 1.0)
        return 2 * b, b
    if kind == "b=2a":
        a = rng.uniform(0.5, 1.0)
        return a, 2 * a
    raise ValueError(f"kind: unknown {kind!r}")


def peak_weight(alpha, beta, theta=1.0):
    """The weight whose single-spike PSP peaks exactly at theta (a neuron at rest fires iff w > this)."""
    tp = 1.0 / alpha if alpha == beta else np.log(alpha / beta) / (alpha - beta)
    return theta / float(kernel(tp, alpha, beta))


def random_case(rng, n_layers, kind, recurrent=(), batch=1, max_in_spikes=3, drive=1.0):
    """A random network that spikes (positive-mean weights scaled to the firing threshold).

    Returns a dict of ``fpsnn.Network`` keyword arguments plus ``x`` (batch, n_in, k).
    ``kind`` is one of :data:`RATE_KINDS` (all layers) or ``"mixed"`` (one random kind per layer);
    ``recurrent`` lists the layers that get recurrent weights. ``drive`` scales all weights.
    Weights into a neuron are ``w_peak * N(1, 0.6) * 1.5 drive / (expected presynaptic spikes / 2)^0.8``
    (``w_peak``: :func:`peak_weight`) -- tuned so that most neurons fire 1-10 times.
    """
    n_in = int(rng.integers(1, 4))
    sizes = [int(rng.integers(1, 4)) for _ in range(n_layers)]
    kinds = [kind if kind != "mixed" else RATE_KINDS[int(rng.integers(len(RATE_KINDS)))] for _ in range(n_layers)]
    ab = [rates_for(k, rng) for k in kinds]
    alpha = [a for a, _ in ab]
    beta = [b for _, b in ab]
    theta = [float(rng.uniform(0.8, 1.2)) for _ in range(n_layers)]
    k = int(rng.integers(1, max_in_spikes + 1))
    x = np.sort(rng.uniform(0.0, 1.5, size=(batch, n_in, k)), axis=-1)
    drop = rng.random(size=x.shape) < 0.15
    x = np.where(drop, np.inf, x)
    x = np.sort(x, axis=-1)
    weights, rec = [], []
    n_pre, pre_spikes = n_in, k
    for l, n in enumerate(sizes):
        wp = peak_weight(alpha[l], beta[l], theta[l])
        scale = wp * drive * 1.5 / max(1.0, n_pre * pre_spikes / 2.0) ** 0.8
        weights.append(scale * rng.normal(1.0, 0.6, size=(n_pre, n)))
        if l in recurrent and n > 1:
            R = 0.3 * wp * rng.normal(0.0, 1.0, size=(n, n))
            np.fill_diagonal(R, 0.0)
            rec.append(R)
        else:
            rec.append(None)
        n_pre, pre_spikes = n, 8
    t_max = float(rng.uniform(3.0, 5.0))
    return dict(weights=weights, alpha=alpha, beta=beta, theta=theta, t_max=t_max, recurrent=rec, x=x)
