# kubeaccess, for "kubeaccess serve" in the cluster (deploy/). The binary is
# static; the image holds nothing else and runs as a non-root user.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY cmd ./cmd
COPY internal ./internal
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /kubeaccess ./cmd/kubeaccess

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /kubeaccess /kubeaccess
USER 65532:65532
EXPOSE 8443
ENTRYPOINT ["/kubeaccess"]
CMD ["serve", "--listen=:8443"]
