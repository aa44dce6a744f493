#!/usr/bin/env bash
# Replication benchmark: RF=3 acks=all against RF=1 on a 3-node dev cluster
# (`riffle dev-cluster 3`), for one or more riffle binaries measured back to
# back in each round, so that a shared machine's drift spreads over all.
#
#   benchmarks/replication.sh [-rounds N] [-duration 20s] BIN [BIN...]
#
# Per binary and round it runs, each on a fresh cluster:
#   max4p-rf1, max4p-rf3  max-rate-1kb.toml: 4 partitions, 2 producers, max rate
#   50k1p-rf1, 50k1p-rf3  1 partition, 1 producer, 50,000 x 1 KiB/s
# all acks=all, idempotent, no consumers (so every fetch a broker serves is
# a follower's). It prints one line per run: produce MB/s, ack p50/p99, the
# load average, CPU seconds (utime+stime from /proc) per GB produced on the
# partition's leader and on the other nodes (1-partition runs; the 4-partition
# runs report the sum over nodes), and the fetch bytes the brokers sent by
# sendfile and by copying (riffle_netio_*_bytes_total). Raw JSON results and
# the cluster logs (its data is deleted after each run) go under $OUT
# (default ./bench-results/replication-<time>);
# ONLY=regexp runs only the runs whose name matches.
set -euo pipefail

rounds=1 duration=20s
while [[ $# -gt 0 && $1 == -* ]]; do
	case $1 in
	-rounds) rounds=$2; shift 2 ;;
	-duration) duration=$2; shift 2 ;;
	*) echo "unknown flag $1" >&2; exit 2 ;;
	esac
done
[[ $# -ge 1 ]] || { sed -n '2,18p' "$0"; exit 2; }
here=$(cd "$(dirname "$0")" && pwd)
bench=${RIFFLE_BENCH:-}
if [[ -z $bench ]]; then
	bench=$(mktemp -d)/riffle-bench
	(cd "$here" && go build -o "$bench" ./cmd/riffle-bench)
fi
out=${OUT:-$PWD/bench-results/replication-$(date -u +%Y%m%d-%H%M%S)}
mkdir -p "$out"
hz=$(getconf CLK_TCK)

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
metric() { curl -s "http://$1/metrics" | awk -v m="$2" '$1 == m {print $2}'; }

# start_cluster BIN DIR: starts `BIN dev-cluster 3` in DIR; sets cluster_pid,
# bootstrap, node_pid[id], node_admin[id].
start_cluster() {
	local bin=$1 dir=$2
	mkdir -p "$dir"
	(cd "$dir" && exec "$bin" dev-cluster 3 >stdout.log 2>stderr.log) &
	cluster_pid=$!
	local deadline=$((SECONDS + 120))
	until grep -q 'bootstrap servers' "$dir/stdout.log" 2>/dev/null && [[ $(pgrep -P "$cluster_pid" | wc -l) -eq 3 ]]; do
		((SECONDS < deadline)) || { echo "cluster in $dir did not start" >&2; return 1; }
		sleep 0.2
	done
	bootstrap=$(sed -n 's/.*bootstrap servers //p' "$dir/stdout.log")
	unset node_pid node_admin
	declare -gA node_pid node_admin
	local pid args id
	for pid in $(pgrep -P "$cluster_pid"); do
		args=$(tr '\0' ' ' <"/proc/$pid/cmdline")
		id=$(sed -n 's/.*--node-id \([0-9]*\).*/\1/p' <<<"$args")
		node_pid[$id]=$pid
		node_admin[$id]=$(sed -n 's/.*--admin-listen \([^ ]*\).*/\1/p' <<<"$args")
	done
	for id in 1 2 3; do
		until curl -sf "http://${node_admin[$id]}/readyz" >/dev/null; do
			((SECONDS < deadline)) || { echo "node $id not ready" >&2; return 1; }
			sleep 0.2
		done
	done
}

# stop_cluster DIR: stops the cluster and deletes its data (gigabytes a
# run), keeping its logs.
stop_cluster() {
	kill -TERM "$cluster_pid" 2>/dev/null || true
	wait "$cluster_pid" 2>/dev/null || true
	rm -rf "$1/dev-cluster"
}

# run BIN LABEL NAME SETTINGS...
run() {
	local bin=$1 label=$2 name=$3; shift 3
	[[ $name =~ ${ONLY:-.} ]] || return 0
	local dir="$out/$label-$name-r$round"
	start_cluster "$bin" "$dir"
	local id
	declare -A t0 sf0 cp0
	for id in 1 2 3; do
		t0[$id]=$(cpu_ticks "${node_pid[$id]}")
		sf0[$id]=$(metric "${node_admin[$id]}" riffle_netio_sendfile_bytes_total)
		cp0[$id]=$(metric "${node_admin[$id]}" riffle_netio_copied_bytes_total)
	done
	"$bench" run -bootstrap "$bootstrap" -set duration="$duration" "$@" -out "$dir" >"$dir/bench.txt" 2>&1 ||
		{ echo "$label $name: riffle-bench failed, see $dir/bench.txt" >&2; stop_cluster "$dir"; return 0; }
	local load
	load=$(cut -d' ' -f1-3 /proc/loadavg)
	local json topic leader=""
	json=$(ls "$dir"/run-*.json | head -1)
	topic=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["runs"][0]["topics"][0])' "$json")
	leader=$(kcat -b "${bootstrap%%,*}" -L -J -t "$topic" 2>/dev/null | python3 -c '
import json,sys
parts=[p for t in json.load(sys.stdin)["topics"] for p in t["partitions"]]
print(parts[0]["leader"] if len(parts)==1 else "")' || true)
	local cpus="" sf=0 cp=0 s
	for id in 1 2 3; do
		s=$(( $(cpu_ticks "${node_pid[$id]}") - t0[$id] ))
		cpus+="$id:$s "
		sf=$((sf + $(metric "${node_admin[$id]}" riffle_netio_sendfile_bytes_total) - sf0[$id]))
		cp=$((cp + $(metric "${node_admin[$id]}" riffle_netio_copied_bytes_total) - cp0[$id]))
	done
	stop_cluster "$dir"
	python3 - "$json" "$label" "$name" "$round" "$load" "$hz" "$leader" "$sf" "$cp" $cpus <<'EOF'
import json, sys
path, label, name, rnd, load, hz, leader, sf, cp = sys.argv[1:10]
ticks = {int(k): int(v) for k, v in (a.split(":") for a in sys.argv[10:])}
run = json.load(open(path))["runs"][0]
res = run["summary"]
prod, ack = res["produce"], res["ack_latency"]
# CPU is counted over the whole run, warm-up included: so are the bytes
# (every second's acknowledged records).
gb = sum(p["produce"]["records"] for p in res["series"]) * run["scenario"]["record_bytes"] / 1e9
per = lambda t: t / int(hz) / gb if gb else float("nan")
if leader:
    l = int(leader)
    cpu = "leader %.2f followers %.2f" % (per(ticks[l]), per(sum(v for k, v in ticks.items() if k != l)))
else:
    cpu = "all nodes %.2f" % per(sum(ticks.values()))
print("%-10s %-10s r%s  %7.1f MB/s  ack p50 %6.2f p99 %7.2f ms  cpu s/GB %-32s fetch sendfile %d MB copied %d MB (%.2f GB produced)  load %s" % (
    label, name, rnd, prod["mb_per_sec"], ack["p50_ms"], ack["p99_ms"], cpu, int(sf) // 10**6, int(cp) // 10**6, gb, load), flush=True)
EOF
}

for ((round = 1; round <= rounds; round++)); do
	for bin in "$@"; do
		label=$(basename "$bin")
		run "$bin" "$label" max4p-rf1 -scenario "$here/scenarios/max-rate-1kb.toml" -set replication_factor=1
		run "$bin" "$label" max4p-rf3 -scenario "$here/scenarios/max-rate-1kb.toml" -set replication_factor=3
		run "$bin" "$label" 50k1p-rf1 -scenario "$here/scenarios/1-topic-1-partition-1kb.toml" -set consumers_per_topic=0 -set replication_factor=1
		run "$bin" "$label" 50k1p-rf3 -scenario "$here/scenarios/1-topic-1-partition-1kb.toml" -set consumers_per_topic=0 -set replication_factor=3
	done
done
