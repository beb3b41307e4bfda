"""``python -m orchestra.runtime_api``: the streaming runtime process (see :mod:`.loop`)."""

from orchestra.runtime_api.loop import main

raise SystemExit(main())
