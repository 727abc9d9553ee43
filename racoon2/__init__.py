"""Shared library of the racoon2 daemons: configuration, kernel, crypto, codecs, spmif."""

__version__ = "0.1.0"
#: The release string the original prints with ``-V``; kept so scripts that parse it still work.
RACOON2_RELEASE = "20100526a (racoon2-python " + __version__ + ")"
