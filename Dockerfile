# The worker (and, for the local stack, the stand-ins) on Debian with Debian's rclone.
# Not bundled: the SignalR client needs node_modules as they are (research/ecosystem.md §2.1).
FROM node:20-bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends rclone ca-certificates \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY shared ./shared
COPY worker/src ./worker/src
COPY scripts ./scripts
RUN npx tsc -p tsconfig.build.json \
 && mkdir -p /data /home/node/state && chown node:node /data /home/node/state
USER node
ENV WORKER_STATE_DIR=/home/node/state LOG_FORMAT=json
CMD ["node", "dist/worker/src/main.js"]
