#!/usr/bin/env bash
# Installs what Riffle's end-to-end tests need besides Go, when missing:
#   kcat                     Debian package, found as `kcat`
#   python3-confluent-kafka  Debian package, for /usr/bin/python3
#   systemd                  Debian package, for systemd-analyze
#   e2fsprogs                Debian package, mkfs.ext4 for the disk-full test
#   mount                    Debian package (util-linux), mount -o loop for it
#   prometheus               Debian package: promtool checks monitoring/alerts.yml,
#                            and a test scrapes a live broker with prometheus
#                            (on a host running systemd the package also
#                            starts a prometheus.service on :9090; tests use
#                            their own instance on a free port)
#   burrow, zookeeper        Debian packages: a test runs Burrow 1.2 (an old
#                            sarama client) against a live broker, with a
#                            throwaway ZooKeeper for Burrow's coordination
#   iproute2, nftables       Debian packages: riffle-bench chaos (benchmarks/)
#                            puts each node in a network namespace (ip, tc)
#                            and cuts links with nft; its test runs as root
#   node and npm             Debian packages, if no node is installed
#   kafkajs                  npm package pinned in tests/js/package-lock.json,
#                            installed into tests/js/node_modules
# Safe to run again: it installs nothing that is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root=()
if [ "$(id -u)" -ne 0 ]; then
	as_root=(sudo)
fi

missing=()
deb_installed() {
	dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"
}
for pkg in kcat python3-confluent-kafka systemd e2fsprogs mount prometheus burrow zookeeper iproute2 nftables; do
	deb_installed "$pkg" || missing+=("$pkg")
done
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)

if [ "${#missing[@]}" -gt 0 ]; then
	echo "install-test-deps: apt-get install ${missing[*]}"
	"${as_root[@]}" apt-get update -q
	"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive \
		apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

if [ ! -f tests/js/node_modules/kafkajs/package.json ]; then
	echo "install-test-deps: npm ci in tests/js"
	(cd tests/js && npm ci --no-audit --no-fund)
fi
