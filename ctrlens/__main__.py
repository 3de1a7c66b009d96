"""`python -m ctrlens`: the same as the `ctrlens` command."""

from ctrlens.cli import main

raise SystemExit(main())
