"""The calibrant d-spacing files shipped with xcal (a data package: see README.md)."""
