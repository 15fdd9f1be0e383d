"""Population balance of the nanocrystal ensemble by the method of moments, integrated in log-time.

State per recipe (rows of a (4, N) array): number density ``N`` (µmol/L), first moment ``M1 = Σ L``
(µmol/L · nm), central second moment ``V2 = N · var(L)`` (µmol/L · nm²) and third moment ``M3 = Σ L³``
(µmol/L · nm³). The crystallised amount is x = M3 / v (mass balance; the supersaturation is computed from
it, so Cs, Pb and Br are conserved exactly). Moment equations, with the growth law linearised about the
mean edge m = M1/N (exact for G linear in L):

    dN/dt  = J − r N
    dM1/dt = G(m) N + J L* − (2/3) r M1
    dV2/dt = 2 G'(m) V2 + J (L* − m)² − (1/3) r V2
    dM3/dt = 3 [G(m) M2 + G'(m) (M3 − m M2)] + J L*³,      M2 = V2 + m M1

where J, L* are the nucleation rate and critical size, G the growth law and r the LSW ripening rate, whose
terms rescale the distribution self-similarly at constant mass (d⟨L⟩³/dt = K). The integrators use
τ = ln(1 + t/t₀) (about linear in t below t₀ = 1 s, logarithmic after), so the sub-second burst and an hour
of ripening are both resolved without a huge number of steps.

This module holds the readable NumPy form of the right-hand side and the slow reference integrator
(:func:`integrate_reference`, ``scipy.integrate.solve_ivp`` Radau at tight tolerance, one recipe at a time);
:mod:`engine.synthesis.physics.solver` is the fast compiled batch integrator of the same equations.
"""

from __future__ import annotations

import numpy as np
from scipy.integrate import solve_ivp

from engine.synthesis.physics.growth import growth_rate, ripening_rate
from engine.synthesis.physics.nucleation import critical_edge_nm, nucleation_rate
from engine.synthesis.physics.parameters import FORMULA_VOLUME_NM3, KINETICS, LATTICE_NM
from engine.synthesis.physics.precursors import crystallised_m, supersaturation

N_STATES = 4
_SEED_NUMBER = 1e-12  # µmol/L of virtual critical nuclei: defines the mean size before the first real nucleus


def rates(y, cond: dict) -> dict:
    """The physical rates at state ``y`` (4, N): supersaturation, nucleation, mean size, growth, ripening."""
    number, m1, v2, m3 = (np.maximum(row, 0.0) for row in y)
    supersat = supersaturation(crystallised_m(m3), cond)
    ln_s = np.log(supersat)
    nuc = nucleation_rate(ln_s, cond["barrier"], cond["nucleation_prefactor"])
    critical = critical_edge_nm(ln_s, cond["capillary_nm"], LATTICE_NM)
    mean = (m1 + _SEED_NUMBER * critical) / (number + _SEED_NUMBER)
    size = np.sqrt(mean * mean + LATTICE_NM * LATTICE_NM)  # rate laws never see a crystal below one cell
    grow, slope = growth_rate(size, supersat, cond["growth_rate"], cond["capillary_nm"], cond["diffusion_nm"])
    ripen = ripening_rate(size, supersat, cond["ripening_nm3_s"], cond["capillary_nm"])
    return {"number": number, "m1": m1, "v2": v2, "m3": m3, "supersaturation": supersat, "nucleation": nuc,
            "critical_nm": critical, "mean_nm": mean, "growth": grow, "growth_slope": slope, "ripening": ripen}


def rhs(y, cond: dict):
    """dy/dt (per second) of the moment equations for a batch state ``y`` of shape (4, N)."""
    q = rates(y, cond)
    nuc, crit, mean, grow, slope, rip = (q[k] for k in ("nucleation", "critical_nm", "mean_nm", "growth",
                                                        "growth_slope", "ripening"))
    number, m1, v2, m3 = q["number"], q["m1"], q["v2"], q["m3"]
    m2 = v2 + mean * m1
    return np.stack([
        nuc - rip * number,
        grow * number + nuc * crit - (2.0 / 3.0) * rip * m1,
        2.0 * slope * v2 + nuc * (crit - mean) ** 2 - (1.0 / 3.0) * rip * v2,
        3.0 * (grow * m2 + slope * (m3 - mean * m2)) + nuc * crit**3,
    ])


def _tau_rhs(tau, y, cond: dict, t0: float):
    """dy/dτ = (t + t₀) dy/dt with t = t₀ (e^τ − 1)."""
    return t0 * np.exp(tau) * rhs(y, cond)


def with_prefactor(cond: dict, params=KINETICS) -> dict:
    return {**cond, "nucleation_prefactor": params.nucleation_prefactor}


def _m3_scale(cond: dict):
    return cond["x_max"] * 1e6 * FORMULA_VOLUME_NM3  # M3 at full conversion


def integrate_reference(cond: dict, rtol: float = 1e-9, params=KINETICS):
    """The same equations, one recipe at a time, with ``solve_ivp`` (Radau); returns the final state (4, N)."""
    cond = with_prefactor(cond, params)
    t0 = params.time_scale_s
    size = cond["time_end_s"].size
    out = np.zeros((N_STATES, size))
    for i in range(size):
        one = {k: (v[i:i + 1] if isinstance(v, np.ndarray) else v) for k, v in cond.items()}
        tau_end = float(np.log1p(one["time_end_s"][0] / t0))
        scale = float(_m3_scale(one)[0])
        atol = np.array([1e-12, 1e-11, 1e-12, 1e-9 * scale])
        sol = solve_ivp(lambda tau, y, c=one: _tau_rhs(tau, y[:, None], c, t0)[:, 0], (0.0, tau_end),
                        np.zeros(N_STATES), method="Radau", rtol=rtol, atol=atol)
        if not sol.success:
            raise RuntimeError(f"reference integration failed for recipe {i}: {sol.message}")
        out[:, i] = sol.y[:, -1]
    return out


def summarize(y, cond: dict) -> dict[str, np.ndarray]:
    """Final ensemble statistics: number (µmol/L), mean and std of edge length (nm), yield, supersaturation."""
    q = rates(y, with_prefactor(cond))
    number = q["number"]
    has = number > 1e-9
    mean = np.where(has, q["m1"] / np.where(has, number, 1.0), np.nan)
    var = np.where(has, q["v2"] / np.where(has, number, 1.0), np.nan)
    x = crystallised_m(q["m3"])
    return {"number_umol_l": number, "edge_length_nm": mean, "edge_length_std_nm": np.sqrt(np.maximum(var, 0.0)),
            "yield": np.clip(x / cond["x_max"], 0.0, 1.0), "crystallised_m": x,
            "final_supersaturation": q["supersaturation"]}
