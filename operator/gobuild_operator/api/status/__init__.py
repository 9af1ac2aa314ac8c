"""What a GoBuildConfig's status may hold: the models the status writer fills and the CRD's status
schema is generated from (`model`: conditions, proxies, cache, downloads and their failures), and
the names of download failure reasons (`reasons`), a public contract that the status, metrics and
Events report and the diagnosis registry refers to. It knows no spec.
"""
