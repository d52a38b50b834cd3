# The DeviceCare services (ingest, detect, notify, api, migrations, rollups) in one image;
# docker-compose.yml picks the command. No secrets here: they come from the environment.
FROM python:3.11.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY pyproject.toml README.md ./
COPY devicecare ./devicecare
COPY cli ./cli
COPY devstack ./devstack
COPY agent ./agent
COPY ingest ./ingest
COPY simulator ./simulator
COPY detectors ./detectors
COPY demo ./demo
COPY notifier ./notifier
COPY api ./api
COPY care ./care
COPY triagelab ./triagelab
COPY deviceconfig ./deviceconfig
COPY dashboards ./dashboards
# grafana-client's urllib3-future must not replace urllib3 (see scripts/setup).
RUN URLLIB3_NO_OVERRIDE=1 pip install --no-binary urllib3-future . \
    && useradd --system --uid 10001 --home-dir /tmp/devicecare devicecare

USER devicecare
ENTRYPOINT ["devicecare"]
CMD ["--help"]
