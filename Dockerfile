# syntax=docker/dockerfile:1
# The Quiz Platform image: one process per container, the same image for every role.
#
#   docker run IMAGE                                   quiz serve (the default command)
#   docker run IMAGE worker --metrics-host 0.0.0.0 --metrics-port 9097
#   docker run IMAGE db upgrade                        one-shot migration, exit code 0
#
# Build (docs/deploy-image.md):
#   docker build --build-arg VERSION=0.1.0 --build-arg COMMIT="$(git rev-parse HEAD)" \
#     --build-arg CREATED="$(date -u +%Y-%m-%dT%H:%M:%SZ)" -t quiz-platform:0.1.0 .
# The base images are pinned by version tag; a release build pins them by digest too:
#   --build-arg PYTHON_IMAGE=python:3.11.14-slim-bookworm@sha256:<digest>
# The runtime environment is built by scripts/build-runtime-env.sh, which
# tests/deploy/test_image_commands.py also uses to run these commands outside a container.

ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm
ARG UV_IMAGE=ghcr.io/astral-sh/uv:0.13.9

FROM ${UV_IMAGE} AS uv

# -- builder: the locked dependencies and the project's wheel in /opt/venv ----------------
FROM ${PYTHON_IMAGE} AS builder
COPY --from=uv /uv /usr/local/bin/uv
ENV UV_LINK_MODE=copy \
    UV_PYTHON=/usr/local/bin/python3
WORKDIR /src
# Dependencies first: this layer is rebuilt only when the lock changes.
COPY pyproject.toml uv.lock README.md ./
COPY scripts/build-runtime-env.sh scripts/
RUN --mount=type=cache,target=/root/.cache/uv \
    scripts/build-runtime-env.sh /opt/venv deps
COPY src/ src/
RUN --mount=type=cache,target=/root/.cache/uv \
    scripts/build-runtime-env.sh /opt/venv all

# -- runtime: the interpreter, /opt/venv and the configuration profiles, nothing else -----
FROM ${PYTHON_IMAGE} AS runtime
ARG VERSION=0.1.0
ARG COMMIT=unknown
ARG CREATED=unknown
LABEL org.opencontainers.image.title="Quiz Platform" \
      org.opencontainers.image.description="Self-hostable, production-grade quiz platform" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${COMMIT}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.base.name="python:3.11-slim"

# A fixed, unprivileged UID/GID (10001): volumes and securityContext can name it.
RUN groupadd --system --gid 10001 quiz \
    && useradd --system --uid 10001 --gid quiz --no-create-home \
       --home-dir /nonexistent --shell /usr/sbin/nologin quiz \
    && mkdir -p /var/lib/quiz \
    && chown quiz:quiz /var/lib/quiz

COPY --from=builder /opt/venv /opt/venv
COPY config/ /app/config/

# Settings: QUIZ_* here and at run time, secrets as files (QUIZ_<NAME>_FILE=/run/secrets/x).
# The root filesystem can be read-only: bytecode is compiled at build time and the only
# writable paths are the volumes below (QUIZ_DATA_DIR; /tmp, better a tmpfs).
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    QUIZ_ENV=production \
    QUIZ_CONFIG_DIR=/app/config \
    QUIZ_DATA_DIR=/var/lib/quiz \
    QUIZ_PORT=8000 \
    QUIZ_VERSION=${VERSION} \
    QUIZ_COMMIT=${COMMIT}
WORKDIR /app
VOLUME ["/var/lib/quiz", "/tmp"]
USER 10001:10001
# 8000: quiz serve (QUIZ_PORT); 9097: quiz worker --metrics-port 9097 (as in the stack).
EXPOSE 8000 9097
# quiz serve drains on SIGTERM (not ready, then finishes in-flight requests: the default
# 5 s + up to 30 s, so give it a stop timeout of 40 s); quiz worker stops and exits 0.
STOPSIGNAL SIGTERM
# /health/live of quiz serve, without curl: the slim image has none. Other roles
# set HEALTHCHECK_URL (the worker: its metrics, http://127.0.0.1:9097/metrics).
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, sys, urllib.request; url = os.environ.get('HEALTHCHECK_URL') or 'http://127.0.0.1:%s/health/live' % os.environ.get('QUIZ_PORT', '8000'); sys.exit(0 if urllib.request.urlopen(url, timeout=2).status == 200 else 1)"]
ENTRYPOINT ["quiz"]
CMD ["serve", "--host", "0.0.0.0"]
