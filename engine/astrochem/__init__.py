"""Astrochemistry twin: time-dependent gas-phase chemistry of interstellar clouds.

Top-down: ``network`` (UMIST RATE22 parser and element/charge bookkeeping) → ``physics`` (parameters,
initial abundances, time grid) → ``rates`` (rate laws) → ``solver`` (BDF with analytic sparse Jacobian)
→ ``analysis`` (formation/destruction, element budgets) → ``data`` (resumable HDF5 datasets) →
``output`` (one run as HDF5/CSV). The emulator: ``processing`` (log scaling) → ``models`` (autoencoder,
latent stepper) → ``loss`` → ``train`` → ``inference`` (:class:`~engine.astrochem.inference.Emulator`).
``cli`` and ``bench`` expose them on the command line.
"""
