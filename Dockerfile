# kgx on CPU: `kgx serve` (HTTP API and graph explorer) by default; any kgx command otherwise.
#
#   docker build -t kgx .
#   docker run --rm -p 127.0.0.1:8765:8765 -e KGX_API_TOKENS=TOKEN:write -v kgx-data:/data kgx
#
# The install is scripts/setup.sh itself, as on a developer machine and in CI, with the extras
# a server needs. torch comes as the CPU build (the PyPI default on Linux is the CUDA one).
FROM python:3.11-slim-bookworm

ENV DEBIAN_FRONTEND=noninteractive \
    PIP_NO_CACHE_DIR=1 \
    PIP_EXTRA_INDEX_URL=https://download.pytorch.org/whl/cpu

# cmake and g++: pip builds llama-cpp-python from source (as .ci/run installs them); curl: the
# health check.
RUN apt-get update \
 && apt-get install -y --no-install-recommends cmake g++ curl \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY . .
RUN KGX_EXTRAS=local,formats,neo4j,serve scripts/setup.sh

RUN useradd --create-home --uid 10001 kgx && mkdir -p /data && chown kgx /data
USER kgx
ENV PATH=/app/.venv/bin:$PATH \
    KGX_STORE=/data/kgx-store \
    KGX_CACHE_DIR=/data/cache
VOLUME ["/data"]
EXPOSE 8765

# A non-loopback host needs KGX_API_TOKENS (kgx serve refuses to start without it).
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=5 \
  CMD curl -fsS http://127.0.0.1:8765/health || exit 1
CMD ["kgx", "serve", "--host", "0.0.0.0", "--port", "8765"]
