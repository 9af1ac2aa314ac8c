"""Builder-aware injection: the arguments that carry the Go settings into a Dockerfile's RUN steps.

A Dockerfile's `RUN` steps do not see the builder container's environment: only build arguments
the Dockerfile declares with `ARG` (and the predefined proxy arguments) reach them, and private-module
credentials must come through the builder's own ssh and secret mechanisms (build arguments end up in
the image history). So for a container that runs an image builder, the webhook also adds, after the
environment it injects anyway:

=========================  ======================================  ==============================
builder                    Go and proxy variables                  private modules, extra CA
=========================  ======================================  ==============================
kaniko executor            ``--build-arg NAME`` (value from env)   none: kaniko has no ssh/secrets
buildctl, buildctl-        ``--opt build-arg:NAME=VALUE``          ``--ssh ID=KEY``,
daemonless.sh              (buildctl <= 0.34 refuses a bare NAME)  ``--secret id=ID,src=FILE``
buildah bud/build          ``--build-arg NAME`` (value from env)   same as buildctl
docker build, docker       ``--build-arg NAME`` (value from env)   same as buildctl
buildx build (and aliases)
=========================  ======================================  ==============================

Recognition (one rule per builder; anything else is left exactly as it is):

* The program is ``command[0]`` when the container sets ``command``, else ``args[0]`` (an image whose
  entrypoint passes its arguments through, or has none). buildctl, buildctl-daemonless.sh, buildah,
  docker and buildx are recognised by the program's base name, whatever the image; the build must be
  the subcommand (``build``/``b``; ``bud``/``build``; ``build``, ``image build``, ``builder build``,
  ``buildx build``, ``buildx b``), found after the tool's global flags.
* kaniko's program is called ``executor``, too generic to trust alone, so the image takes part:
  ``/kaniko/executor``, or ``executor`` in an image with a path component containing ``kaniko``
  (gcr.io/kaniko-project/executor, the maintained forks). Such an image without ``command`` and with
  ``args`` starting with a flag runs its entrypoint, the executor, with those flags.
* A builder run through a shell (``sh -c "buildctl build ..."``) cannot be rewritten safely: it is
  left alone and the admission warning says what to add by hand.

Our arguments go right after the subcommand (for kaniko right after the executor), before the
workload's own: buildah and Go-flag-style parsers stop at the first positional argument, and only
positions before it are safe for every builder.

Precedence and safety:

* An argument the workload already passes for the same name or id wins: ``--build-arg NAME[=...]``,
  ``--opt build-arg:NAME=...``, ``--ssh ID...``, ``--secret ...id=ID...``. buildah's
  ``--build-arg-file`` would be overridden by any ``--build-arg``, so then no build argument is added.
* Valueless build arguments name only variables the container has in its environment after injection
  (the workload's own value when it kept one), so values never appear in arguments. For buildctl the
  value is copied from the container's env: not when it comes from ``valueFrom`` (unknown here), and
  never when it holds a URL with userinfo (credentials would be kept in the image history).
* The SSH key, known_hosts, netrc and CA are passed as files the builder client reads (the injected
  mounts, only where mounted in that container); neither their paths nor their contents become build
  arguments. kaniko runs RUN in its own filesystem, so the injected mounts are visible there: it gets
  the module cache and CA variables as build arguments, but nothing that points at a credential.
* Re-running on the result adds nothing: our own arguments count as the workload's.
"""
