"""The package version, importable without importing the package (save/load read it)."""

__version__ = "0.2.0.dev0"
