"""``python -m orchestra.aws_lambda.runtime_api``: the streaming runtime process (see :mod:`.loop`)."""

from orchestra.aws_lambda.runtime_api.loop import main

raise SystemExit(main())
