# One image for every process: web (the default command), worker, beat and migrate.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# The locked dependencies first, each checked against its hash: a layer that changes only
# when the lock does. setuptools, which builds the package below, is among them.
COPY requirements.txt ./
RUN pip install --require-hashes --no-deps -r requirements.txt

# Only what the package is built from: not .venv, var/ or .git from a working copy.
COPY pyproject.toml README.md ./
COPY config/ config/
COPY newsroom/ newsroom/
COPY feeds/ feeds/
COPY email_templates/ email_templates/
COPY worker/ worker/
COPY web/ web/
COPY budkavle/ budkavle/
RUN pip install --no-deps --no-build-isolation .

# The code stays root's; the service may write only to its data folder (beat's schedule).
RUN useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin budkavle \
    && mkdir /data \
    && chown budkavle:budkavle /data
ENV BUDKAVLE_DATA_DIR=/data
USER budkavle

EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]

# --no-proxy-headers: BUDKAVLE_TRUSTED_PROXIES alone says whose X-Forwarded-For counts.
CMD ["uvicorn", "web.app:create_app", "--factory", "--host", "0.0.0.0", "--port", "8000", \
     "--no-proxy-headers"]
