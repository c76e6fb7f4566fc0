# One image for the API and the worker (docker-compose.yml picks the command).
FROM python:3.11-slim
ENV PYTHONUNBUFFERED=1 UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy
RUN pip install --no-cache-dir uv
# Report charts draw Chinese labels with Noto Sans CJK.
RUN apt-get update && apt-get install -y --no-install-recommends fonts-noto-cjk && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --locked --no-dev --no-install-project
COPY . .
RUN uv sync --locked --no-dev
RUN useradd --system --uid 10001 renewals && chown -R renewals /app
USER renewals
ENV PATH="/app/.venv/bin:$PATH" ENVIRONMENT=prod API_HOST=0.0.0.0
EXPOSE 8000
CMD ["renewals", "api"]
