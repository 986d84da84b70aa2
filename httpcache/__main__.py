"""``python -m httpcache``: the same as the ``httpcache`` command."""

from __future__ import annotations

from ._cli._main import main

raise SystemExit(main())
