# The broker service image. Build context: the repository root.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    BROKER_HOST=0.0.0.0 BROKER_PORT=8000 BROKER_SECRETS_DIR=/run/broker-secrets
WORKDIR /app
# gcc and the OpenSSL headers build the one C extension (pseudonymise/_hmacbatch.c, the batch HMAC)
RUN apt-get update && apt-get install -y --no-install-recommends gcc libc6-dev libssl-dev \
    && rm -rf /var/lib/apt/lists/*
COPY requirements.lock pyproject.toml README.md ./
RUN pip install --no-cache-dir -r requirements.lock
COPY . .
RUN pip install --no-cache-dir --no-deps -e . && useradd --system --uid 10001 broker \
    && mkdir -p /run/broker-secrets && chown broker /run/broker-secrets
USER broker
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --retries=5 CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/healthz').status==200 else 1)"
CMD ["sh", "-c", "broker db upgrade && broker serve"]
