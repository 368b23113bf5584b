# The Piper TTS server as a container image.
#
#   docker build -t piper-tts-server .
#   docker run -p 5000:5000 -v "$PWD/models:/models:ro" piper-tts-server
#
# No system package is installed, on purpose: the server needs none. espeak-ng is an npm
# package (compiled to JavaScript), onnxruntime-node ships its CPU libraries inside the
# npm package, and every audio encoder comes from npm, AAC included (FFmpeg's encoder in
# WebAssembly, @mediabunny/aac-encoder), so the image has no ffmpeg (issue 6 planned one
# for aac; it is no longer needed). onnxruntime's libraries link against glibc, hence a
# Debian image rather than Alpine.
#
# Voices: put `<name>.onnx` + `<name>.onnx.json` in the /models volume (MODEL_DIR). For a
# first try without a voice, the image can write the project's generated test voice:
#   docker run --rm -v models:/models piper-tts-server \
#     node dist/apps/cli/apps/cli/src/main.js make-test-voice --out /models
# (docker-compose.yml does exactly that in its voices-init service when /models is empty.)

ARG NODE_IMAGE=node:20-bookworm-slim

# --- build: all dependencies, TypeScript compiled to dist/ ----------------------------
FROM ${NODE_IMAGE} AS build
WORKDIR /app
# onnxruntime-node's install script would download CUDA libraries (the CPU build it
# ships is the one used): npm 11 skips it (package.json "allowScripts"), the npm of this
# image reads ONNXRUNTIME_NODE_INSTALL; @scarf/scarf's install-time analytics are off.
ENV SCARF_ANALYTICS=false ONNXRUNTIME_NODE_INSTALL=skip
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json nest-cli.json ./
COPY libs ./libs
COPY apps ./apps
# nest-cli.json's "assets" (e.g. the web page's static files) are copied into dist/ here.
RUN npm run build

# --- deps: production dependencies only (everything the built server imports) ---------
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
ENV SCARF_ANALYTICS=false ONNXRUNTIME_NODE_INSTALL=skip
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

# --- runtime -------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=5000 \
    MODEL_DIR=/models
WORKDIR /app
# The application's files stay owned by root (the server cannot rewrite its own code);
# only the voices directory and a directory for CACHE_DIR belong to the `node` user
# (uid 1000), so that named volumes mounted there start out writable by it.
RUN mkdir -p /models /cache && chown node:node /models /cache
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
# package.json: the server reads its version from it. LICENSE: GPL-3.0, shipped along.
COPY package.json LICENSE ./
USER node
VOLUME ["/models"]
EXPOSE 5000
# The Wyoming protocol (Home Assistant), WYOMING_PORT.
EXPOSE 10200
# Liveness only (the process answers HTTP); readiness (/health/ready) is for load
# balancers and Kubernetes. The slim image has no curl, so Node's own fetch asks.
# HOST must include the loopback interface (0.0.0.0, the default, does).
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 5000) + '/health/live').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# On SIGTERM the server turns readiness false, lets in-flight syntheses finish within
# SHUTDOWN_TIMEOUT_MS (25 s), ends its workers and exits 0: give `docker stop` more
# than that (docker stop -t 35; compose's stop_grace_period), not its default 10 s.
STOPSIGNAL SIGTERM
CMD ["node", "dist/apps/tts-server/apps/tts-server/src/main.js"]
