# Multi-stage build of the operator into a minimal non-root image, for those who build with
# Docker. CI builds the same image without pulling anything (scripts/build-image.sh): same user,
# entrypoint, command, port, environment and files; tests/e2e/image.rs checks they agree.
#   docker build -t live-snapshot-operator .
FROM rust:1.95-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends cmake && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# The commit `--version` prints (.git is not sent to the build): docker build --build-arg
# LSO_GIT_COMMIT=$(git rev-parse --short=12 HEAD) .
ARG LSO_GIT_COMMIT=unknown
ENV LSO_GIT_COMMIT=$LSO_GIT_COMMIT
# Dependencies first, so source edits do not rebuild them: the manifests with empty targets.
COPY Cargo.toml Cargo.lock build.rs ./
COPY sim/Cargo.toml sim/
RUN mkdir -p src sim/src/bin benches \
    && echo 'fn main() {}' > src/main.rs && touch src/lib.rs sim/src/lib.rs \
    && for b in live-api-sim lso-quickstart; do echo 'fn main() {}' > sim/src/bin/$b.rs; done \
    && echo 'fn main() {}' > benches/scale.rs \
    && sed -i '/^\[\[test\]\]/,/^harness/d' Cargo.toml \
    && cargo build --release --locked -p live-snapshot-operator --bin live-snapshot-operator \
    && rm -rf src
# Only the operator's own sources: the simulators (sim/) never enter the image.
COPY src ./src
RUN touch src/main.rs src/lib.rs \
    && cargo build --release --locked -p live-snapshot-operator --bin live-snapshot-operator

# distroless/cc has glibc and CA certificates, no shell; "nonroot" is uid 65532.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /src/target/release/live-snapshot-operator /usr/local/bin/live-snapshot-operator
ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
# glibc would keep up to eight malloc arenas per core, each holding freed memory: two suffice
# for a process that mostly waits on the network, and keep RSS near what is in use.
ENV MALLOC_ARENA_MAX=2
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/live-snapshot-operator"]
CMD ["run"]
