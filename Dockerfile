# kipvs' container image, for a machine that can pull from a registry:
#   docker build --build-arg GIT_COMMIT=$(git rev-parse --short=12 HEAD) -t ghcr.io/kipvs/kipvs:0.1.0 .
# scripts/image (npm run image) builds the same contents without a registry, from Debian's packages and
# the npm registry (mmdebstrap + umoci); it is the build this project tests (npm run test:image).
# Both: Debian 12 (glibc: the bindings load libc.so.6 and libnl), Node 24 LTS, the packages listed in
# image/packages, kipvs' production dependencies only, kipvs and kipvsadm on PATH.

FROM node:24-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json tsconfig.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY src ./src
COPY native-bindings ./native-bindings
COPY types ./types
COPY scripts/bundle.js ./scripts/bundle.js
COPY bin ./bin
COPY LICENSE ./
# npm run build: tsc, then the bundles bin/kipvs.js loads (dist/bundle) and client-node's (dist/vendor).
RUN npx tsc -p . && node scripts/bundle.js \
    && mkdir -p /out/opt/kipvs/dist \
    && cp -r dist/src dist/native-bindings dist/vendor dist/bundle /out/opt/kipvs/dist/ \
    && find /out/opt/kipvs/dist -name '*.map' -delete \
    && cp -r bin package.json package-lock.json LICENSE /out/opt/kipvs/ \
    && cd /out/opt/kipvs && npm ci --omit=dev --ignore-scripts --no-audit --no-fund
ARG GIT_COMMIT=unknown
RUN printf '{"commit":"%s"}\n' "$GIT_COMMIT" > /out/opt/kipvs/build-info.json

FROM debian:bookworm-slim
COPY image/packages /tmp/packages
RUN apt-get update \
    && grep -v '^#' /tmp/packages | xargs apt-get install -y --no-install-recommends \
    && rm -rf /var/lib/apt/lists/* /tmp/packages
COPY --from=build /usr/local/bin/node /usr/local/bin/node
COPY --from=build /out/opt/kipvs /opt/kipvs
COPY image/entrypoint /usr/local/bin/kipvs-entrypoint
RUN ln -s /opt/kipvs/bin/kipvs.js /usr/local/bin/kipvs && ln -s /opt/kipvs/bin/kipvsadm.js /usr/local/bin/kipvsadm
LABEL org.opencontainers.image.title=kipvs org.opencontainers.image.licenses=Apache-2.0
ENTRYPOINT ["/usr/local/bin/kipvs-entrypoint"]
CMD ["agent"]
