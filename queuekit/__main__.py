"""``python -m queuekit``: the same as the ``queuekit`` command."""

from .cli import main

raise SystemExit(main())
