# A stand-in for rust:1-bookworm (which cannot be pulled here), to test the jinit builder stage
# of images/base/Dockerfile: Debian bookworm with gcc and libc6-dev (as buildpack-deps has), the
# host's Rust toolchain, and the host's cargo registry cache with cargo kept offline (crates.io
# is not reachable from containers here). Built by tests/docker/run.sh from a temporary context
# holding toolchain/ and registry/.
ARG DEBIAN_IMAGE=debian:bookworm-slim
# hadolint ignore=DL3006
FROM ${DEBIAN_IMAGE}
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends gcc libc6-dev ca-certificates \
 && rm -rf /var/lib/apt/lists/*
COPY toolchain /usr/local/rust
COPY registry /usr/local/cargo/registry
ENV PATH=/usr/local/rust/bin:$PATH CARGO_HOME=/usr/local/cargo CARGO_NET_OFFLINE=true
