"""Compatibility shim for existing scripts: `from WMEmbModel import WMEmbModel`."""

from wmemb.facade import WMEmbModel

__all__ = ["WMEmbModel"]
