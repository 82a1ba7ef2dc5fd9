# The worker (and, for the local stack, the stand-ins) on Debian with Debian's rclone.
# Not bundled: the SignalR client needs node_modules as they are (research/ecosystem.md §2.1).
#
# Signals: `docker stop` sends STOPSIGNAL (SIGTERM) to PID 1, which is tini; tini forwards it
# to the worker, which drains (jobs handed back to the hub, rclone quit) and exits 0. tini also
# reaps any orphan, which the worker as PID 1 would not. Give the drain time: `docker stop -t 90`
# / compose `stop_grace_period: 90s` (the drain is bounded by WORKER_SHUTDOWN_TIMEOUT_SECONDS
# + 15 s). rclone dies with the worker in any case (setpriv --pdeathsig, from util-linux).
FROM node:20-bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends rclone ca-certificates tini util-linux \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY shared ./shared
COPY worker/src ./worker/src
COPY scripts ./scripts
RUN npm run build \
 && mkdir -p /data /home/node/state && chown node:node /data /home/node/state
USER node
ENV WORKER_STATE_DIR=/home/node/state LOG_FORMAT=json
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["node", "--max-semi-space-size=4", "dist/worker/src/main.js"]
