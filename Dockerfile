# Build and run rdsgate in a container (used by docker-compose.yml).
#   docker build --build-arg VERSION=$(git describe --always --dirty) -t rdsgate .
FROM golang:1.26.8 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# VERSION is stamped into main.version; -trimpath keeps the build machine's
# paths out of the binary, and -s -w drop its symbol and debug tables.
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" \
    -o /out/rdsgate ./cmd/rdsgate

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/rdsgate /usr/local/bin/rdsgate
EXPOSE 8080
# No shell in the image: the binary asks its own /readyz.
HEALTHCHECK --interval=10s --timeout=6s --retries=3 CMD ["/usr/local/bin/rdsgate", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/rdsgate"]
CMD ["serve"]
