"""What the operator makes true for each GoBuildConfig: its status (one writer, status.py) and the
objects it owns (cache.py: the module cache claim). reporting/ and handlers/ feed it what they
observe; only this package writes a GoBuildConfig's status."""
