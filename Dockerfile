# One chainnode validator per container.
#   docker build -t chainnode:latest .
#   docker compose -f devnet/docker-compose.yml up      (written by `chainnode network init`)
# Config: /etc/chainnode/config.toml (mounted), every field overridable by CHAINNODE_<FIELD>.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /opt/chainnode
COPY pyproject.toml setup.py README.md ./
COPY chainnode ./chainnode
COPY consensus ./consensus
COPY p2p ./p2p
COPY storage ./storage
COPY contracts ./contracts
COPY crypto ./crypto
# Not bench/: benchmarks run from a checkout (`pip install -e '.[bench]'`), never in the image.
# gcc builds the optional native SM4-GCM extension (crypto/_sm4gcm.c) and is removed again in
# the same layer; if the build failed, the install would still succeed and use OpenSSL's SM4
# (the line printed below says which; run it from / so the installed package is imported).
RUN apt-get update \
    && apt-get install -y --no-install-recommends gcc libc6-dev \
    && pip install . \
    && (cd / && python -c "from crypto import sm4; print('SM4-GCM:', sm4.gcm_backend_info())") \
    && apt-get purge -y --auto-remove gcc libc6-dev \
    && rm -rf /var/lib/apt/lists/* /root/.cache

RUN groupadd --system --gid 10001 chainnode \
    && useradd --system --uid 10001 --gid chainnode --home-dir /var/lib/chainnode \
       --no-create-home --shell /usr/sbin/nologin chainnode \
    && mkdir -p /etc/chainnode /var/lib/chainnode \
    && chown chainnode:chainnode /var/lib/chainnode

ENV CHAINNODE_CONFIG=/etc/chainnode/config.toml \
    CHAINNODE_DATA_DIR=/var/lib/chainnode \
    CHAINNODE_API_HOST=0.0.0.0 \
    CHAINNODE_P2P_HOST=0.0.0.0

VOLUME ["/var/lib/chainnode"]
EXPOSE 8700 8800
USER chainnode:chainnode
WORKDIR /var/lib/chainnode

HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=3 \
    CMD ["chainnode", "healthcheck"]

STOPSIGNAL SIGTERM
ENTRYPOINT ["chainnode"]
CMD ["start", "--config", "/etc/chainnode/config.toml"]
