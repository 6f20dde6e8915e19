# syntax=docker/dockerfile:1
#
# One image for every role: the command picks it (`migrate`, `api`, `worker`, `start`, or a
# CLI tool such as `decrypt`, `keys`, `audit`). Runs as uid/gid 10001 on a read-only root
# filesystem; the only writable place it needs is /data (the encrypted spool, and outside
# production the generated keys and the `local` provider's directory).
#
#   docker build -t custody:0.1.0 .                   # the runtime image (last stage)
#   docker build --target dev -t custody-dev:0.1.0 .  # with dev dependencies: s3rver, Azurite
#
# Base: Node.js 24 LTS ("Krypton", supported until April 2028). Node 20 is past its end of
# life; Node 22 ends in April 2027. The project runs on Node >= 20.10; its end-to-end tests
# also pass on 24 (README, "Container image"). Pinned to an exact release, written out in
# both FROM lines (no build argument that could swap it); when you build, also pin the
# digest the registry reports (`FROM node:24.21.0-bookworm-slim@sha256:<digest>`): it
# could not be looked up where this file was written (no Docker engine there).

# ---- build: all dependencies (as locked), compile TypeScript ----
FROM node:24.21.0-bookworm-slim AS build
WORKDIR /app
# The lockfile alone first, so the dependency layer is reused while only sources change.
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY . .
RUN npm run build

# ---- dev: the build stage with dev dependencies kept, for compose.yaml's stand-ins ----
FROM build AS dev
# The stand-ins keep their state in a volume at /data, writable by the service user.
RUN mkdir -p /data && chown 10001:10001 /data
USER 10001:10001

# ---- prod-deps: production dependencies only ----
FROM build AS prod-deps
RUN npm prune --omit=dev --no-audit --no-fund

# ---- runtime: the image that ships (the last stage is what `docker build` produces) ----
FROM node:24.21.0-bookworm-slim AS runtime
ENV NODE_ENV=production \
    CUSTODY_DATA_DIR=/data
WORKDIR /app
# Owned by root and read-only to the service user: the process cannot change its own code.
# What the code reads at runtime besides dist/: migrations/ (src/db/migrate.ts), the IAM/KMS
# policy templates in policies/ (src/domain/storage/aws-setup.ts), bin/custody.js (the
# entry point, which imports dist/src/cli/main.js) and package.json ("type": "module").
COPY --from=prod-deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build /app/bin ./bin
COPY --from=build /app/migrations ./migrations
COPY --from=build /app/policies ./policies
COPY --from=build /app/package.json ./package.json
# The service user, with a passwd entry (libraries asking os.userInfo() get an answer)
# but no home and no shell. /data must exist and belong to it before VOLUME: a fresh named
# volume takes the owner of the directory it is mounted over.
RUN groupadd --system --gid 10001 custody \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin custody \
 && mkdir -p /data && chown 10001:10001 /data && chmod 0700 /data
VOLUME ["/data"]
USER 10001:10001
EXPOSE 8080 9464
STOPSIGNAL SIGTERM
# No curl in slim images: a small Node script asks /healthz on PORT (api, start) or on
# CUSTODY_WORKER_METRICS_PORT (worker).
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "bin/healthcheck.js"]
ENTRYPOINT ["node", "bin/custody.js"]
CMD ["start"]
