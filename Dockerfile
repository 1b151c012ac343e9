# syntax=docker/dockerfile:1
# pedidos as one compiled binary on a small image: docs/deploy.md.
#
#   docker build -t pedidos .
#   docker run -d --name pedidos --stop-timeout 15 -p 127.0.0.1:8888:8888 -v pedidos-data:/data pedidos
#   docker exec pedidos /usr/local/bin/pedidos client ping
#
# The image runs `pedidos server` (CMD); any other subcommand works the same:
# `docker run --rm pedidos client --help`.

# ---- build: the pinned Deno compiles main.ts into /out/pedidos.
# The tag is pinned; pin the digest too once it can be looked up (these build
# machines cannot reach the registry): denoland/deno:2.9.6@sha256:<digest>.
FROM denoland/deno:2.9.6 AS build
WORKDIR /src

# Dependencies first, so this layer is reused until deno.json or deno.lock change.
COPY deno.json deno.lock ./
RUN ["deno", "install", "--frozen"]

# Then the code main.ts imports, and the worker modules it loads by URL.
COPY main.ts ./
COPY server/ server/
COPY client/ client/
COPY workers/ workers/

# The same flags as `deno task compile` (tests/packaging_test.ts keeps them
# equal): the permissions baked into the binary and the worker modules it
# embeds. deno compile downloads its runtime (denort) from dl.deno.land here,
# so this step needs network access.
RUN ["deno", "compile", "--frozen", "--exclude-unused-npm", "--allow-net", "--allow-read=.", "--allow-write=.", "--allow-env=PEDIDOS_*,NO_COLOR,PG*", "--include=workers/processor_worker.ts", "--include=workers/writer_worker.ts", "--output=/out/pedidos", "main.ts"]

# The volume's mount point, handed to the runtime user (the runtime image has no shell).
RUN ["mkdir", "-p", "/out/data"]

# ---- runtime: glibc and nothing else, running as the non-root user 65532.
# Pin the digest too once it can be looked up: gcr.io/distroless/cc-debian12@sha256:<digest>.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /out/pedidos /usr/local/bin/pedidos
COPY --from=build --chown=65532:65532 /out/data /data
USER 65532:65532

# The binary may read and write only its working directory (--allow-read=.
# --allow-write=. resolve against the directory it starts in): the database
# and any .env.local live on the /data volume.
WORKDIR /data
VOLUME ["/data"]

# Listen on every address inside the container; publish the ports on the
# host's loopback (compose.yaml does) unless a firewall guards them. Listening
# on 0.0.0.0, the gateway would answer any Host name; published on the
# loopback, it answers only the loopback's (localhost, 127.0.0.1, [::1]), so
# that a DNS rebinding finds nothing: a deployment reached under a real
# hostname, or behind a proxy, sets PEDIDOS_WEB_ALLOWED_HOSTS=any.
ENV PEDIDOS_HOST=* \
    PEDIDOS_DB=/data/pedidos.db \
    PEDIDOS_WEB_HOST=0.0.0.0 \
    PEDIDOS_WEB_ALLOWED_HOSTS=loopback

# The daemon (TCP) and the web gateway (HTTP, the `web` subcommand).
EXPOSE 8888 5000

# SIGTERM drains running orders for up to PEDIDOS_DRAIN_TIMEOUT_MS (10 s by
# default): give `docker stop` more time than that (docker stop -t 15;
# compose.yaml sets stop_grace_period).
STOPSIGNAL SIGTERM

HEALTHCHECK --interval=10s --timeout=5s --start-period=10s --retries=3 \
  CMD ["/usr/local/bin/pedidos", "client", "ping", "--host", "127.0.0.1"]

ENTRYPOINT ["/usr/local/bin/pedidos"]
CMD ["server"]
