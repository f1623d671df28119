# The fraudstream application image (producer, worker, drift consumer) for docker-compose.yml.
FROM python:3.11-slim
RUN pip install --no-cache-dir uv==0.13.9
WORKDIR /app
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --frozen --no-dev --no-install-project
COPY fraudstream fraudstream
COPY schemas schemas
COPY producers producers
COPY features features
COPY registry registry
COPY trainer trainer
COPY consumers consumers
COPY monitoring monitoring
COPY cli cli
RUN uv sync --frozen --no-dev
ENV PATH="/app/.venv/bin:$PATH" PYTHONUNBUFFERED=1
ENTRYPOINT []
CMD ["fraudstream", "--help"]
