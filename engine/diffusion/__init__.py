"""Graph diffusion twin: a diffusion model whose forward process is driven by a graph Laplacian.

Reads top-down: ``graphs`` (Laplacians) → ``process`` (exact Φ(t), Σ(t)) → ``datasets`` (GMRF,
Heisenberg spins) → ``models`` (epsilon network) → ``train`` → ``sampling`` → ``baselines`` /
``metrics`` → ``bench`` (targets) and ``cli``.
"""
