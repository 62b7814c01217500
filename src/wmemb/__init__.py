"""wmemb: adapt BGE-family text-embedding models to a specialised domain."""

from wmemb.errors import WMEmbError
from wmemb.facade import WMEmbModel

__version__ = "0.1.0"
__all__ = ["WMEmbError", "WMEmbModel", "__version__"]
