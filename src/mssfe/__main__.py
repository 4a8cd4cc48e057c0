"""Allow ``python -m mssfe`` (and ``torchrun -m mssfe``)."""

from mssfe.cli import main

raise SystemExit(main())
