"""Status arithmetic: what a GoBuildConfig's status says, computed from what the operator observed.

`observe` turns a finished injected Pod into an observation (succeeded, failed with a diagnosis,
or missed: admitted without the injection it asked for, which `missed` decides); `counting` folds
observations into `status.downloads` exactly once; `health` and `reach` decide what the proxy
probes may reach and what their results mean; `conditions` keeps metav1.Conditions; `events` says
which Events a batch of observations and condition changes is worth. No I/O: reporting/ feeds it
and writes what it returns.
"""
