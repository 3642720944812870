# Build and run rdsgate in a container (used by docker-compose.yml).
#   docker build --build-arg VERSION=$(git describe --always --dirty) \
#     --build-arg COMMIT=$(git rev-parse HEAD) --build-arg BUILD_TIME=$(date -u +%Y-%m-%dT%H:%M:%SZ) -t rdsgate .
FROM golang:1.26.8 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# VERSION, COMMIT and BUILD_TIME are stamped into main.version, main.commit
# and main.buildTime (`rdsgate version`): the context has no .git, so the
# toolchain's own VCS stamp is missing. -trimpath keeps the build machine's
# paths out of the binary, and -s -w drop its symbol and debug tables.
ARG VERSION=dev
ARG COMMIT=
ARG BUILD_TIME=
RUN CGO_ENABLED=0 go build -trimpath \
    -ldflags "-s -w -X main.version=${VERSION} -X main.commit=${COMMIT} -X main.buildTime=${BUILD_TIME}" \
    -o /out/rdsgate ./cmd/rdsgate
# An empty directory for the image's state (the audit signing key and the
# checkpoint copies, docker-compose.yml): a volume mounted there takes its
# owner, the distroless nonroot user.
RUN mkdir -p /out/state

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/rdsgate /usr/local/bin/rdsgate
COPY --from=build --chown=65532:65532 /out/state /var/lib/rdsgate
EXPOSE 8080
# No shell in the image: the binary asks its own /readyz.
HEALTHCHECK --interval=10s --timeout=6s --retries=3 CMD ["/usr/local/bin/rdsgate", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/rdsgate"]
CMD ["serve"]
