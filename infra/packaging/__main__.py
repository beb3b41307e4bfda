"""``python -m infra.packaging --out build/lambda``: build the bundle, print its report."""

from infra.packaging.cli import main

raise SystemExit(main())
