# One image for every service of the production profile (Airflow, MLflow, Feast).
FROM python:3.11-slim
ENV PYTHONUNBUFFERED=1 UV_PROJECT_ENVIRONMENT=/opt/venv PATH=/opt/venv/bin:$PATH
RUN pip install --no-cache-dir "uv==0.13.9"
WORKDIR /opt/platform
COPY pyproject.toml uv.lock README.md ./
COPY src ./src
COPY ml ./ml
RUN uv sync --frozen --no-dev
COPY . .
