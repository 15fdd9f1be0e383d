"""Graphs and their sparse combinatorial Laplacians L = D - A (unit edge weights).

Builders: d-dimensional grids (1-D/2-D/3-D, open or periodic), rings, random geometric graphs, and a
validated user edge list. Every builder returns a :class:`Graph` (edges, sparse adjacency, Laplacian,
node positions for plotting).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from engine.errors import InputError

MAX_NODES = 4096


@dataclass(frozen=True)
class Graph:
    """An undirected simple connected graph: ``edges`` [m, 2] with i < j, ``positions`` [n, 3]."""

    name: str
    n_nodes: int
    edges: np.ndarray
    positions: np.ndarray

    @property
    def adjacency(self) -> sp.csr_matrix:
        """Symmetric 0/1 adjacency, sparse [n, n]."""
        i, j = self.edges[:, 0], self.edges[:, 1]
        data = np.ones(2 * len(i))
        return sp.csr_matrix((data, (np.r_[i, j], np.r_[j, i])), shape=(self.n_nodes, self.n_nodes))

    @property
    def laplacian(self) -> sp.csr_matrix:
        """Combinatorial Laplacian L = D - A, sparse [n, n], positive semi-definite."""
        adjacency = self.adjacency
        degree = np.asarray(adjacency.sum(axis=1)).ravel()
        return (sp.diags(degree) - adjacency).tocsr()


def _check_int(name: str, value, low: int, high: int) -> int:
    if isinstance(value, bool) or not float(value).is_integer() or not low <= int(value) <= high:
        raise InputError(f"{name} must be an integer in [{low}, {high}], got {value!r}.")
    return int(value)


def _validated(name: str, n_nodes: int, edges, positions: np.ndarray | None = None) -> Graph:
    n_nodes = _check_int("n_nodes", n_nodes, 2, MAX_NODES)
    try:
        edges = np.asarray(edges, dtype=float)
    except (TypeError, ValueError) as error:
        raise InputError(f"edges must be a list of integer node pairs, got {error}.") from None
    if edges.ndim != 2 or edges.shape[1] != 2 or len(edges) == 0:
        raise InputError(f"edges must have shape [m, 2] with m >= 1, got shape {edges.shape}.")
    if not np.all(np.isfinite(edges)) or not np.all(edges == np.round(edges)):
        raise InputError("edges must hold integer node indices.")
    edges = edges.astype(np.int64)
    if edges.min() < 0 or edges.max() >= n_nodes:
        raise InputError(f"edge node indices must lie in [0, {n_nodes - 1}], got [{edges.min()}, {edges.max()}].")
    if np.any(edges[:, 0] == edges[:, 1]):
        bad = int(edges[edges[:, 0] == edges[:, 1]][0, 0])
        raise InputError(f"edges contain a self-loop at node {bad}; self-loops are not allowed.")
    edges = np.unique(np.sort(edges, axis=1), axis=0)
    graph = Graph(name, n_nodes, edges, positions if positions is not None else _circle_positions(n_nodes))
    n_parts, _ = connected_components(graph.adjacency, directed=False)
    if n_parts != 1:
        raise InputError(f"the graph must be connected; the edges give {n_parts} components.")
    return graph


def _circle_positions(n: int) -> np.ndarray:
    angle = 2 * np.pi * np.arange(n) / n
    return np.c_[np.cos(angle), np.sin(angle), np.zeros(n)]


def grid(shape: tuple[int, ...], periodic: bool = False) -> Graph:
    """A 1-D, 2-D or 3-D lattice with nearest-neighbour bonds; ``periodic`` wraps every axis."""
    shape = tuple(shape)
    if not 1 <= len(shape) <= 3:
        raise InputError(f"grid shape must have 1 to 3 axes, got {len(shape)}.")
    shape = tuple(_check_int("grid side", side, 2, MAX_NODES) for side in shape)
    n_nodes = int(np.prod(shape))
    if n_nodes > MAX_NODES:
        raise InputError(f"grid has {n_nodes} nodes; the limit is {MAX_NODES}.")
    index = np.arange(n_nodes).reshape(shape)
    edges = []
    for axis, side in enumerate(shape):
        if periodic and side > 2:
            edges.append(np.c_[index.ravel(), np.roll(index, -1, axis=axis).ravel()])
        else:
            lo = np.take(index, range(side - 1), axis=axis).ravel()
            hi = np.take(index, range(1, side), axis=axis).ravel()
            edges.append(np.c_[lo, hi])
    coords = np.stack(np.unravel_index(np.arange(n_nodes), shape), axis=1).astype(float)
    positions = np.zeros((n_nodes, 3))
    positions[:, : len(shape)] = coords
    label = "×".join(map(str, shape)) + (" periodic" if periodic else "")
    return _validated(f"grid {label}", n_nodes, np.concatenate(edges), positions)


def ring(n_nodes: int) -> Graph:
    """A cycle of ``n_nodes`` nodes (n ≥ 3)."""
    n_nodes = _check_int("n_nodes", n_nodes, 3, MAX_NODES)
    i = np.arange(n_nodes)
    return _validated(f"ring {n_nodes}", n_nodes, np.c_[i, (i + 1) % n_nodes])


def random_geometric(n_nodes: int, radius: float, seed: int = 0, dim: int = 2) -> Graph:
    """Nodes uniform in the unit ``dim``-cube, joined when closer than ``radius`` (must come out connected)."""
    n_nodes = _check_int("n_nodes", n_nodes, 2, MAX_NODES)
    if not 0 < radius <= np.sqrt(dim):
        raise InputError(f"radius must lie in (0, {np.sqrt(dim):.3g}], got {radius!r}.")
    points = np.random.default_rng(seed).random((n_nodes, dim))
    diff = points[:, None, :] - points[None, :, :]
    i, j = np.nonzero(np.triu(np.einsum("ijk,ijk->ij", diff, diff) < radius**2, k=1))
    if len(i) == 0:
        raise InputError(f"radius {radius} joins no nodes; increase radius.")
    positions = np.zeros((n_nodes, 3))
    positions[:, :dim] = points
    try:
        return _validated(f"random geometric {n_nodes} r={radius:g}", n_nodes, np.c_[i, j], positions)
    except InputError as error:
        raise InputError(f"{error} Increase radius (now {radius}) or change the seed.") from None


def from_edges(edges, n_nodes: int | None = None) -> Graph:
    """A user-supplied undirected edge list, validated (indices, self-loops, size, connectivity)."""
    try:
        array = np.asarray(edges, dtype=float) if len(edges) else np.zeros((0, 2))
    except (TypeError, ValueError):
        raise InputError("edges must be a list of integer node pairs (i, j).") from None
    if n_nodes is None:  # the largest index + 1; non-finite or huge indices are reported by _validated
        n_nodes = int(np.max(array)) + 1 if array.size and np.all(np.isfinite(array)) and array.max() < MAX_NODES else 2
    return _validated("user edge list", n_nodes, array)


GRAPHS: dict[str, Callable[..., Graph]] = {
    "grid": grid,
    "ring": ring,
    "random_geometric": random_geometric,
    "edges": from_edges,
}
