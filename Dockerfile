# The image of the rfm-stream worker and replay job in docker-compose.yml: the wheel of this checkout,
# installed into a slim Python and run by an unprivileged user; its entry point is the installed CLI.
#
# No Docker engine runs where rfm-stream is developed and tested, so the image itself is not built there.
# tests/integration/test_installed_package.py builds the wheel from the same files with the same command,
# installs it outside the checkout and runs batch, a worker, replay and sync with it; test_compose.py checks
# this file and docker-compose.yml against the configuration.

# ---- build: the wheel, from only what the package needs (the context also holds a local stack's .cache/, .run/)
FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY stream_app ./stream_app
RUN pip wheel --no-deps --wheel-dir /dist .

# ---- run: that wheel and its dependencies, nothing of the source tree
FROM python:3.11-slim
ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    RFM_DATA_DIR=/var/lib/rfm-stream/worker \
    RFM_RUN_DIR=/var/lib/rfm-stream/run \
    RFM_CACHE_DIR=/var/cache/rfm-stream

COPY --from=build /dist /tmp/dist
# a numeric uid, so that an orchestrator's "run as non-root" check can verify it without /etc/passwd
RUN pip install /tmp/dist/*.whl \
    && rm -rf /tmp/dist \
    && useradd --system --uid 10001 --home-dir /var/lib/rfm-stream rfm \
    && mkdir -p /var/lib/rfm-stream /var/cache/rfm-stream \
    && chown rfm /var/lib/rfm-stream /var/cache/rfm-stream

USER 10001
WORKDIR /var/lib/rfm-stream
# the worker is PID 1 (a dead worker stops the container); the check adds whether its Kafka and Redis answer
HEALTHCHECK --interval=30s --timeout=20s --start-period=30s --retries=3 CMD ["rfm-stream", "health"]
ENTRYPOINT ["rfm-stream"]
CMD ["--help"]
