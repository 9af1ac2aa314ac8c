"""The rules of `check`, by what they look at: `values` (credentials and hard-coded Go settings in ARG,
ENV and RUN assignments), `gomod` (whether go finds go.mod and go.sum where it runs), `fetch` (what a
RUN that downloads modules needs: a cache mount, ARGs for the cluster's Go settings, credentials'
mounts) and `version` (the golang image against go.mod's go directive). Each reads the `Build` the
walk (check.py) has kept so far and adds its findings to it; none of them walks the Dockerfile.
"""
