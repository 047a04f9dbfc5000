# syntax=docker/dockerfile:1
# AlgoTrendy engine image: multi-stage (compilers stay in the build stage), runs as a non-root user,
# healthchecked over the standard gRPC health service.
#
#   docker build -t algotrendy .
#   docker run --rm -p 50051:50051 -p 9464:9464 -v algotrendy-data:/var/lib/algotrendy algotrendy

ARG PYTHON_IMAGE=python:3.11-slim-bookworm
ARG UV_VERSION=0.13.8

FROM ${PYTHON_IMAGE} AS build
ARG UV_VERSION
RUN apt-get update \
 && apt-get install -y --no-install-recommends gcc g++ \
 && rm -rf /var/lib/apt/lists/* \
 && pip install --no-cache-dir "uv==${UV_VERSION}"
WORKDIR /src
COPY requirements/ requirements/
# The runtime environment: exactly the pinned runtime dependencies (no compilers, no test tools).
RUN uv venv /opt/algotrendy --python /usr/local/bin/python3.11 \
 && uv pip install --compile-bytecode --python /opt/algotrendy/bin/python -r requirements/runtime.in -c requirements/lock.txt
# The build environment: Cython, NumPy headers and grpcio-tools, pinned by the same lock.
RUN uv venv /opt/build --python /usr/local/bin/python3.11 \
 && uv pip install --python /opt/build/bin/python pip setuptools wheel cython numpy grpcio-tools -c requirements/lock.txt
COPY . .
RUN /opt/build/bin/python -m pip wheel --no-deps --no-build-isolation -w /dist . \
 && uv pip install --compile-bytecode --python /opt/algotrendy/bin/python --no-deps /dist/*.whl \
 && /opt/algotrendy/bin/python -c "import engine.core.kernels as k; k.verify_kernels()"

FROM ${PYTHON_IMAGE} AS runtime
RUN useradd --system --uid 10001 --user-group --home-dir /var/lib/algotrendy --create-home algotrendy
COPY --from=build /opt/algotrendy /opt/algotrendy
ENV PATH=/opt/algotrendy/bin:$PATH \
    ALGOTRENDY_DATA_DIR=/var/lib/algotrendy/data \
    ALGOTRENDY_GRPC__HOST=0.0.0.0 \
    ALGOTRENDY_METRICS__HOST=0.0.0.0 \
    ALGOTRENDY_LOG__FORMAT=json \
    GRPC_VERBOSITY=ERROR
USER algotrendy
WORKDIR /var/lib/algotrendy
VOLUME ["/var/lib/algotrendy"]
EXPOSE 50051 9464
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
  CMD ["algotrendy", "health", "--target", "127.0.0.1:50051", "--timeout", "3"]
ENTRYPOINT ["algotrendy"]
CMD ["serve"]
