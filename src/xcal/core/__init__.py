"""Headless calibration engine: images, detectors, calibrants, geometry, refinement, integration.

Nothing in this package imports Qt, so the CLI, the Python API and the tests use it directly.
"""
