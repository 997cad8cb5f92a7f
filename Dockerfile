# ConferenceHaven: nginx (Debian 12's stock 1.22.1) + ngx_http_confhaven_module.
#   docker build -t confhaven .
#   docker run -p 8000:8000 \
#     -v /path/to/nginx.conf:/etc/nginx/nginx.conf:ro \
#     -v /path/to/secrets:/etc/nginx/confhaven:ro confhaven
# The image's default config is conf/nginx.example.conf: adapt it (database
# URL, TLS certificate, admin network) or mount your own. The database needs
# the migrations from sql/ (ci/migrate), which this image does not run.

# ---- build stage: the same ci/deps + ci/build as CI and `make`
FROM debian:bookworm AS build
ENV DEBIAN_FRONTEND=noninteractive
WORKDIR /src
COPY ci/deps ci/deps
RUN ci/deps build && rm -rf /var/lib/apt/lists/*
COPY . .
RUN rm -rf .build .run && CONFHAVEN_SKIP_DEPS=1 ci/build \
    && test -f .build/ngx_http_confhaven_module.so

# ---- runtime stage: nginx + the libraries the module links against
FROM debian:bookworm
ENV DEBIAN_FRONTEND=noninteractive
RUN printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d \
    && apt-get update \
    && apt-get install -y --no-install-recommends \
         nginx libpq5 libjansson4 libcurl4 libhiredis0.14 ca-certificates \
    && rm -rf /var/lib/apt/lists/* /usr/sbin/policy-rc.d \
    && ln -sf /dev/stdout /var/log/nginx/confhaven.access.log \
    && ln -sf /dev/stderr /var/log/nginx/error.log \
    && mkdir -p /etc/nginx/confhaven /etc/nginx/tls
COPY --from=build /src/.build/ngx_http_confhaven_module.so /usr/lib/nginx/modules/ngx_http_confhaven_module.so
COPY conf/nginx.example.conf /etc/nginx/nginx.conf
COPY conf/confhaven-web.conf /etc/nginx/confhaven-web.conf
COPY html /usr/share/confhaven/html
COPY conf/nginx.example.conf /usr/share/doc/confhaven/nginx.example.conf
EXPOSE 8000
STOPSIGNAL SIGQUIT
CMD ["nginx", "-g", "daemon off;"]
