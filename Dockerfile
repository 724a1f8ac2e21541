# kubetrail collector image: `docker build -t kubetrail:0.1.0 .`
FROM node:20-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json tsconfig.json ./
COPY src ./src
RUN npm ci --no-audit --no-fund && npm prune --omit=dev

FROM node:20-bookworm-slim
WORKDIR /opt/kubetrail
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY package.json ./
RUN ln -s /opt/kubetrail/dist/cli/main.js /usr/local/bin/kubetrail && chmod +x dist/cli/main.js \
 && useradd --system --uid 10001 --home-dir /var/lib/kubetrail kubetrail
USER 10001
# a bounded V8 heap keeps the collector's memory predictable (see deploy/systemd/kubetrail.service)
ENV NODE_OPTIONS="--max-old-space-size=128 --max-semi-space-size=8"
ENTRYPOINT ["kubetrail"]
CMD ["serve", "--listen=0.0.0.0:8443", "--data-dir=/var/lib/kubetrail"]
