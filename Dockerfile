# The control plane as a container image: `docker build -t edgewise-control .`
# Build stage: the pinned toolchain (rust-toolchain.toml) builds the release binary, with
# OpenTelemetry export (set EDGEWISE_OTLP_ENDPOINT to use it; docs/operations.md).
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p edgewise-control --bin edgewise --features otlp \
 && cp target/release/edgewise /edgewise

# Run stage: the binary alone, as an unprivileged user. rustls carries its own TLS, so the
# only system package is the CA bundle for https edge URLs.
FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /data edgewise \
 && mkdir -p /data && chown edgewise /data
COPY --from=build /edgewise /usr/local/bin/edgewise
USER edgewise
WORKDIR /data
# Every flag has its variable (docs/control.md); these make it reachable in a container and
# keep SQLite's file on the volume when no PostgreSQL is given.
ENV EDGEWISE_LISTEN=0.0.0.0:3000 \
    DATABASE_URL=sqlite:///data/edgewise.db \
    EDGEWISE_LOG_JSON=true
VOLUME /data
EXPOSE 3000
ENTRYPOINT ["edgewise"]
CMD ["serve"]
