"""``python -m backchannel.cli``: the ``backchannel`` command."""

from backchannel.cli import main

raise SystemExit(main())
