# tierroute gateway image. Build: docker build -t tierroute .   Run: see docker-compose.yml.
FROM python:3.11-slim AS build
WORKDIR /src
RUN pip install --no-cache-dir --upgrade pip build
COPY pyproject.toml README.md* ./
COPY src ./src
COPY config ./config
RUN python -m build --wheel --outdir /wheels && pip wheel --no-cache-dir --wheel-dir /wheels /wheels/tierroute-*.whl

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    TIERROUTE_HOST=0.0.0.0 TIERROUTE_PORT=4000
RUN useradd --create-home --uid 10001 tierroute
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
WORKDIR /app
COPY --chown=tierroute:tierroute config ./config
# The SQLite usage store (when no database_url) and the usage spill directory live here.
RUN mkdir -p /app/spill && chown -R tierroute:tierroute /app
USER tierroute
EXPOSE 4000
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
  CMD python -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:4000/health/liveness', timeout=2); sys.exit(0)"
CMD ["tierroute", "serve", "--config", "/app/config/tierroute.yaml"]
