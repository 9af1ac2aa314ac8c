# The gobuild-operator image: the operator and its admission webhook (`run`, the default), and the
# offline `diagnose` and `check` commands. Built by `make image` with BuildKit and by release
# pipelines from this file alone:
#
#   docker buildx build -t ghcr.io/gobuild-dev/gobuild-operator:0.1.0 .
#
# Behind a TLS-intercepting proxy, give the build its CA (added to, not replacing, the image's):
#
#   docker buildx build --secret id=gobuild-ca,src=corp-ca.pem ...
#
# The final stage runs as a numeric non-root user, needs no shell at run time and writes nothing
# outside /tmp, so it works with readOnlyRootFilesystem (the chart mounts an emptyDir on /tmp).

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PIP_ROOT_USER_ACTION=ignore
WORKDIR /src
COPY pyproject.toml README.md ./
COPY operator/ operator/
RUN --mount=type=secret,id=gobuild-ca,required=false \
    if [ -s /run/secrets/gobuild-ca ]; then \
      cat /etc/ssl/certs/ca-certificates.crt /run/secrets/gobuild-ca > /tmp/ca.pem; \
      export PIP_CERT=/tmp/ca.pem; \
    fi; \
    python -m pip wheel --wheel-dir /wheels .

FROM ${PYTHON_IMAGE}
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PIP_ROOT_USER_ACTION=ignore
# The wheels are bind-mounted from the build stage, so none of them stays in a layer.
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    python -m pip install --no-index --find-links /wheels gobuild-operator
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
# 65532: the "nonroot" user of distroless images; no passwd entry is needed.
USER 65532:65532
ENTRYPOINT ["python", "-m", "gobuild_operator"]
CMD ["run"]
