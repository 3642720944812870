# Build and run rdsgate in a container (used by docker-compose.yml).
FROM golang:1.26.8 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -o /out/rdsgate ./cmd/rdsgate

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/rdsgate /usr/local/bin/rdsgate
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/rdsgate"]
CMD ["serve"]
