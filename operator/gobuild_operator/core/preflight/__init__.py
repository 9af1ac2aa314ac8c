"""Preflight: will this go.mod download with this GoBuildConfig, and if not, why.

Pure, like the rest of core/: go.mod and go.sum are parsed (gomod.py), each required module's
route is decided from the Go settings with go's own matching rules (patterns.py, routes.py), the
preflight Job's script and objects are built (job.py), and its output (real go, run in the
cluster with exactly what a build gets) is read back and merged with the routes, failures
classified by core/diagnosis (output.py, report.py). k8s/commands/preflight.py runs the Job and
cli/preflight.py prints the result.
"""
