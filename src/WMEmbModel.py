"""Compatibility shim for scripts written for the original design: `from WMEmbModel import WMEmbModel`."""

from wmemb.facade import WMEmbModel

__all__ = ["WMEmbModel"]
