# The image of the rfm-stream worker and replay job in docker-compose.yml; its entry point is the CLI.
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    RFM_DATA_DIR=/var/lib/rfm-stream/worker \
    RFM_RUN_DIR=/var/lib/rfm-stream/run \
    RFM_CACHE_DIR=/var/cache/rfm-stream

WORKDIR /src
# only what the package needs: the build context also holds .cache/ and .run/ of a local stack
COPY pyproject.toml README.md ./
COPY stream_app ./stream_app
RUN pip install . \
    && useradd --system --home-dir /var/lib/rfm-stream rfm \
    && mkdir -p /var/lib/rfm-stream /var/cache/rfm-stream \
    && chown rfm /var/lib/rfm-stream /var/cache/rfm-stream

USER rfm
WORKDIR /var/lib/rfm-stream
ENTRYPOINT ["rfm-stream"]
CMD ["--help"]
