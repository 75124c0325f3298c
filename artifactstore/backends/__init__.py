"""Backends that ship inside the core distribution (only the memory reference backend)."""
