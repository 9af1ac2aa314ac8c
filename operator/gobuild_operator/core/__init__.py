"""The pure core: decisions and transformations over plain dicts and API models, no I/O.

One package per job, each with its own reason to change: injection (what an admitted workload
gets), imagebuilds (what an image builder's command line gets), diagnosis (why a build failed),
status (what the GoBuildConfig's status says), dockercheck (what in a Dockerfile will break
`go mod download`); and leadership (which replica leads). Import contracts in pyproject.toml keep
them apart: diagnosis and injection never import each other, status and dockercheck only build on
the lower ones, and nothing here imports kopf, an API client or anything that does I/O.
"""
