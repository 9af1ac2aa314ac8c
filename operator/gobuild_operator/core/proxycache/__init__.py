"""A GoBuildConfig's Proxy cache as it is set up: the settings the cache runs with, one frozen object
from the JSON the operator renders or from flags (`settings`); the upstreams it reaches, go's GOPROXY
list, proxy variables and netrc read as go reads them (`upstreams`); and the Deployment, Service,
ConfigMap and PodDisruptionBudget the operator runs for the config (`deployment`). It stands on
core/modcache/ (the checksum database a setting names) and on the injection plan's names. Pure: the
reconciler applies the objects and the cache's server reads the settings.
"""
