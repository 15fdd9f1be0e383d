"""Hybrid PDE twin: physical solvers, neural surrogates and hybrid-cooperative training.

Reading order: ``spectral`` (pure operators) → ``physical`` (solvers) → ``exact`` (reference solutions) →
``data`` (initial conditions, HDF5 cache) → ``synthetic`` (neural steppers) → ``fit`` / ``train`` →
``hybrid`` → ``experiment`` → ``inference`` (CLI/page entry points), ``bench``, ``pretrained``, ``cli``.
"""
