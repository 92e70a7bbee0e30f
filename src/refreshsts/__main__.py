"""`python -m refreshsts`: the same as the `refreshsts` command."""

from refreshsts.cli import main

raise SystemExit(main())
