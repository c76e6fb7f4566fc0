# syntax=docker/dockerfile:1
# One image for the API, the worker and the jobs (migrations, Temporal setup): the command picks the role.
ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm

FROM ghcr.io/astral-sh/uv:0.13.9 AS uv

FROM ${PYTHON_IMAGE} AS build
COPY --from=uv /uv /usr/local/bin/uv
# The virtualenv is copied to the runtime stage as is: bytecode compiled now (the code is read-only
# there), files copied rather than linked, the base image's Python only.
ENV UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy UV_PYTHON_DOWNLOADS=never UV_PROJECT_ENVIRONMENT=/app/.venv
WORKDIR /app
# Dependencies first, in their own layer: a code change does not reinstall them.
RUN --mount=type=cache,target=/root/.cache/uv \
    --mount=type=bind,source=uv.lock,target=uv.lock \
    --mount=type=bind,source=pyproject.toml,target=pyproject.toml \
    uv sync --locked --no-dev --no-install-project
COPY . .
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --locked --no-dev \
    && python -m compileall -q renewals api activities workflows models migrations worker.py

FROM ${PYTHON_IMAGE}
# Report charts draw Chinese labels with Noto Sans CJK.
RUN apt-get update \
    && apt-get install -y --no-install-recommends fonts-noto-cjk \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --no-create-home --home-dir /nonexistent renewals
# Owned by root and run as `renewals`: the running process cannot change its own code.
COPY --from=build --chown=root:root /app /app
USER renewals
WORKDIR /app
# Matplotlib keeps its font cache under a writable home; the process has none but /tmp.
ENV PATH="/app/.venv/bin:$PATH" PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 MPLCONFIGDIR=/tmp/matplotlib \
    ENVIRONMENT=prod API_HOST=0.0.0.0
EXPOSE 8000 9464 9465
CMD ["renewals", "api"]
