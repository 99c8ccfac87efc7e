# One image for API nodes and transcoder workers (the command picks which).
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src src
COPY plugins plugins
COPY transcoder transcoder
RUN npx tsc -p tsconfig.build.json && npm prune --omit=dev

FROM node:20-bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ffmpeg && rm -rf /var/lib/apt/lists/*
WORKDIR /app
ENV NODE_ENV=production HOST=0.0.0.0 PORT=3000
COPY --from=build /app/node_modules node_modules
COPY --from=build /app/dist dist
# The web UI's static pages and scripts are served from src/web as they are (nothing to build).
COPY --from=build /app/src/web src/web
COPY package.json ./
USER node
EXPOSE 3000
CMD ["node", "dist/src/server.js"]
