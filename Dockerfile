# syntax=docker/dockerfile:1
# The `zencall` binary, every role in one image: `docker run IMAGE api|worker|scheduler|migrate`.
# Migrations and the default configuration are built into the binary; nothing else is copied.

ARG RUST_VERSION=1.95
ARG DEBIAN_RELEASE=bookworm

FROM rust:${RUST_VERSION}-slim-${DEBIAN_RELEASE} AS build
WORKDIR /src
COPY . .
# The cache mounts keep the registry and the build directory between builds of this stage.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin zencall \
    && cp target/release/zencall /usr/local/bin/zencall

FROM debian:${DEBIAN_RELEASE}-slim
# ca-certificates: the providers are reached over TLS with the system's roots.
# curl: the container health checks.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /app --create-home zencall
COPY --from=build /usr/local/bin/zencall /usr/local/bin/zencall
USER zencall
WORKDIR /app
# In a container, listen on every interface; the ports stay internal unless published.
ENV ZENCALL__SERVER__HOST=0.0.0.0 \
    ZENCALL__OPS__HOST=0.0.0.0 \
    ZENCALL__LOG__FORMAT=json
# 8080: the API (`api`, `up`); 9090: /healthz, /readyz and /metrics of `worker` and `scheduler`.
EXPOSE 8080 9090
ENTRYPOINT ["/usr/local/bin/zencall"]
CMD ["up"]
