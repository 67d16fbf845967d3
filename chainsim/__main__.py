"""``python -m chainsim`` is the ``chainsim`` command."""

import sys

from .cli import main

sys.exit(main())
