# The edge worker on local workerd (wrangler dev), for compose.yaml: builds the worker with
# scripts/build-edge (Rust → wasm, the npm tooling from package-lock.json) and serves it.
FROM node:22-bookworm
RUN curl -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal --default-toolchain none
ENV PATH=/root/.cargo/bin:$PATH
WORKDIR /src
COPY . .
RUN rustup show active-toolchain || rustup toolchain install \
 && scripts/build-edge
ENV CLOUDFLARE_CF_FETCH_ENABLED=false WRANGLER_SEND_METRICS=false
EXPOSE 8787
# CONTROL_URL, EDGE_ADMIN_SECRET and INGEST_KEY come from the environment (compose.yaml).
CMD ["sh", "-c", "exec node_modules/.bin/wrangler dev --config wrangler.toml --ip 0.0.0.0 --port 8787 --var CONTROL_URL:$CONTROL_URL --var EDGE_ADMIN_SECRET:$EDGE_ADMIN_SECRET --var INGEST_KEY:$INGEST_KEY"]
