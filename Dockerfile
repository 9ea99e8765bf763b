# One image for every service of the production profile (docker-compose.yml): Airflow, MLflow,
# the feature server. Built from a clean clone: the dbt manifest the DAG is rendered from is
# git-ignored, so it is built here; .dockerignore keeps .venv, data/ and .git out.
# Great Expectations' Data Docs load Bootstrap, jQuery and friends from CDNs: their files come from the
# npm registry here, once (bankmkt/offline_assets.py), so the pages render without the internet.
FROM python:3.11-slim AS datadocs
RUN apt-get update && apt-get install -y --no-install-recommends npm && rm -rf /var/lib/apt/lists/*
COPY src/bankmkt/offline_assets.py /tmp/offline_assets.py
RUN python /tmp/offline_assets.py fetch --target /assets

FROM python:3.11-slim
ENV PYTHONUNBUFFERED=1 \
    UV_PROJECT_ENVIRONMENT=/opt/venv \
    UV_COMPILE_BYTECODE=1 \
    PATH=/opt/venv/bin:$PATH \
    PLATFORM_ENV=prod \
    DATA_DIR=/data
RUN pip install --no-cache-dir "uv==0.13.9" \
    && groupadd --gid 50000 platform \
    && useradd --uid 50000 --gid platform --home-dir /home/platform --create-home platform
WORKDIR /opt/platform
# Dependencies first (their layer survives code changes), from the lock only.
COPY pyproject.toml uv.lock README.md ./
COPY src ./src
COPY ml ./ml
RUN uv sync --frozen --no-dev
COPY . .
COPY --from=datadocs /assets ./build/datadocs-assets
# The dbt manifest (dbt parse needs no database), then the data volume's mount point, owned by
# the service user: a new named volume takes this ownership.
RUN PLATFORM_ENV=local DATA_DIR=/tmp/parse python -m bankmkt.warehouse parse \
    && rm -rf /tmp/parse \
    && mkdir -p /data \
    && chown -R platform:platform /data /opt/platform/dbt_project/target
USER platform
