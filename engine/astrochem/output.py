"""Writing one solved run: HDF5 (``times_yr``, ``species``, ``abundances``, parameters as attributes) and CSV."""

from __future__ import annotations

import io
from dataclasses import asdict
from pathlib import Path

import h5py
import numpy as np
import pandas as pd

from engine.astrochem.solver import Trajectory
from engine.errors import InputError


def write_run_hdf5(trajectory: Trajectory, target: str | Path | io.BytesIO) -> None:
    """Save a run to an HDF5 file path or a binary buffer.

    Datasets: ``times_yr`` (n_out), ``species`` (UTF-8 names as in the network), ``abundances``
    (n_out, n_species) relative to n_H. Attributes: the physical parameters (with units in
    ``units_*``), the elemental abundances (``elemental_*``), wall time, steps and the conservation error.
    """
    try:
        handle = h5py.File(target, "w")
    except OSError as error:
        raise InputError(f"cannot write the run to {target}: {error}") from None
    with handle:
        handle.create_dataset("times_yr", data=trajectory.times_yr)
        handle.create_dataset("species", data=np.array(trajectory.species, dtype=object),
                              dtype=h5py.string_dtype())
        handle.create_dataset("abundances", data=trajectory.abundances, compression="gzip", shuffle=True)
        units = {"density": "cm^-3", "temperature": "K", "g0": "Habing", "av": "mag", "zeta": "s^-1"}
        for name, value in trajectory.params.as_dict().items():
            handle.attrs[name] = value
            handle.attrs[f"units_{name}"] = units[name]
        handle.attrs["abundance_units"] = "relative to n_H"
        for element, value in asdict(trajectory.elements).items():
            handle.attrs[f"elemental_{element}"] = value
        handle.attrs["wall_time_s"] = trajectory.wall_time_s
        handle.attrs["n_steps"] = trajectory.n_steps
        handle.attrs["conservation_error"] = trajectory.conservation_error


def run_hdf5_bytes(trajectory: Trajectory) -> bytes:
    """The HDF5 file of a run as bytes (for downloads)."""
    buffer = io.BytesIO()
    write_run_hdf5(trajectory, buffer)
    return buffer.getvalue()


def run_table(trajectory: Trajectory) -> pd.DataFrame:
    """Wide table: one row per output time, ``time_yr`` then one column per species."""
    frame = pd.DataFrame(trajectory.abundances, columns=list(trajectory.species))
    frame.insert(0, "time_yr", trajectory.times_yr)
    return frame
