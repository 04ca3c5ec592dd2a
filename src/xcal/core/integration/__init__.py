"""Integration: patterns and cakes of one image (pyFAI, with look-up tables), corrections, and the
files they are written to."""

from ..public import exports

__all__, __getattr__ = exports(__name__, {
    "corrections": ["Corrections"],
    "integrator": ["Cake", "IntegrationSettings", "Integrator", "Pattern", "calibrant_positions"],
    "outputs": ["write_cake", "write_pattern"],
})
