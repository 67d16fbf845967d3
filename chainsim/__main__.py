"""``python -m chainsim`` is the ``chainsim`` command."""

from .cli import entry

entry()
