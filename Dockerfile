# Builds Hearth and its tests in a Debian 12 image (libseccomp-dev comes from scripts/setup-deps.sh). Running VMs needs /dev/kvm passed in:
#   docker build -t hearth . && docker run --rm --device /dev/kvm hearth scripts/demo.sh
FROM debian:12

RUN apt-get update && apt-get install -y --no-install-recommends sudo ca-certificates && rm -rf /var/lib/apt/lists/*
WORKDIR /src/hearth
COPY scripts/setup-deps.sh scripts/setup-deps.sh
RUN scripts/setup-deps.sh && rm -rf /var/lib/apt/lists/*

COPY . .
RUN cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DHEARTH_WERROR=ON \
 && cmake --build build \
 && install -m 0755 build/hearth /usr/local/bin/hearth \
 && install -m 0755 build/hearth-jailer build/hearth-seccomp-policy /usr/local/bin/

CMD ["hearth", "--help"]
