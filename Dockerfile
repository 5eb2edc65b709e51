# smart-router on the official LiteLLM proxy image (the same LiteLLM version as uv.lock).
FROM ghcr.io/berriai/litellm:main-v1.108.7

WORKDIR /app
COPY pyproject.toml README.md ./
COPY accounting ./accounting
COPY catalog ./catalog
COPY health ./health
COPY router_ext ./router_ext
COPY scrapers ./scrapers
COPY strategies ./strategies
COPY scripts ./scripts
COPY config ./config
# LiteLLM is already in the image at the pinned version: pip keeps it and adds what we need.
RUN pip install --no-cache-dir /app

ENV LITELLM_LOCAL_MODEL_COST_MAP=True \
    HF_HUB_OFFLINE=1 \
    PYTHONUNBUFFERED=1
EXPOSE 4000
HEALTHCHECK --interval=10s --timeout=3s --retries=6 \
  CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:4000/health/liveliness', timeout=2)"
ENTRYPOINT ["smart-router", "serve", "--host", "0.0.0.0", "--port", "4000"]
CMD ["--config", "/app/config/config.yaml"]
