#!/usr/bin/env bash
# Draws demo/docs/dashboard.png: the main panels of the demo's `--print-dashboard`, from live
# queries of a Prometheus that scrapes two demo servers under a few minutes of scripted traffic
# (Rucio answering, then down for a while, a second instance whose Rucio hangs past its request
# timeout, 404s, rejected tokens).
#
# Needs: cargo (it builds the demo's debug binary; DEMO_BIN=path uses another build), prometheus
# (2.42, Debian's `apt-get install prometheus`; PROMETHEUS=path), chromium (CHROMIUM=path),
# python3 (standard library only), curl. Ports 18888, 18889 and 19090 on 127.0.0.1 must be free.
#
# Run from anywhere:  demo/tools/dashboard-picture.sh [OUT.png]   (default demo/docs/dashboard.png)
# TRAFFIC_SECONDS (default 300) is how long the traffic runs; the picture spans that time.
# It fails, drawing nothing, if any drawn panel's query returns no data.

set -euo pipefail

repo=$(cd "$(dirname "$0")/../.." && pwd)
out=$(realpath -m "${1:-$repo/demo/docs/dashboard.png}")
traffic_seconds=${TRAFFIC_SECONDS:-300}
prometheus=${PROMETHEUS:-prometheus}
chromium=${CHROMIUM:-chromium}
token=dashboard-picture-token
healthy=127.0.0.1:18888
hung=127.0.0.1:18889
prom=127.0.0.1:19090
prefix=/rucio-jupyterlab

die() {
    echo "dashboard-picture: $*" >&2
    exit 1
}

for tool in "$prometheus" "$chromium" python3 curl; do
    command -v "$tool" >/dev/null || die "needs $tool on PATH"
done

if [[ -n ${DEMO_BIN:-} ]]; then
    demo=$DEMO_BIN
else
    (cd "$repo" && cargo build -p handler-metrics-demo)
    demo=${CARGO_TARGET_DIR:-$repo/target}/debug/handler-metrics-demo
fi
[[ -x $demo ]] || die "no demo binary at $demo"

work=$(mktemp -d)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

"$demo" --print-alert-rules >"$work/rules.yml"
"$demo" --print-dashboard >"$work/dashboard.json"
printf '%s' "$token" >"$work/token"

# The healthy instance's Rucio answers in 40 ms; the other's hangs, and its 0.5 s request
# timeout answers 504: errors, slow calls and calls cut short.
"$demo" --addr "$healthy" --token "$token" --rucio-latency-ms 40 >"$work/demo-healthy.log" 2>&1 &
pids+=($!)
"$demo" --addr "$hung" --token "$token" --rucio-latency-ms 60000 --request-timeout 0.5 \
    >"$work/demo-hung.log" 2>&1 &
pids+=($!)

cat >"$work/prometheus.yml" <<EOF
global:
  scrape_interval: 5s
  evaluation_interval: 5s
rule_files:
  - $work/rules.yml
scrape_configs:
  - job_name: rucio-jupyterlab
    authorization:
      type: Bearer
      credentials_file: $work/token
    static_configs:
      - targets: ['$healthy', '$hung']
EOF
"$prometheus" --config.file="$work/prometheus.yml" --web.listen-address="$prom" \
    --storage.tsdb.path="$work/data" >"$work/prometheus.log" 2>&1 &
pids+=($!)

wait_for() { # what url [curl options]
    for _ in $(seq 100); do
        curl -sf -o /dev/null "${@:3}" "$2" && return 0
        sleep 0.2
    done
    die "$1 not ready at $2; logs in $work: $(tail -n 5 "$work"/*.log)"
}
wait_for prometheus "http://$prom/-/ready"
wait_for "the healthy demo" "http://$healthy/metrics" -H "Authorization: Bearer $token"
wait_for "the hung demo" "http://$hung/metrics" -H "Authorization: Bearer $token"

# One GET, which must be answered `expected`: a traffic script that silently drew other
# answers would draw the wrong picture.
call() { # expected instance path [token]
    local code
    code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: token ${4:-$token}" \
        "http://$2$prefix$3")
    [[ $code == "$1" ]] || die "GET $2$prefix$3 answered $code, not $1"
}

dataset=data18_13TeV:data18_13TeV.00348885.physics_Main.deriv.DAOD_PHYS
start=$(date +%s)
end=$((start + traffic_seconds))
# Rucio is down on the healthy instance for the middle fifth.
outage_from=$((start + traffic_seconds * 2 / 5))
outage_to=$((start + traffic_seconds * 3 / 5))
round=0
echo "dashboard-picture: $traffic_seconds s of traffic (Rucio down from +$((outage_from - start)) s to +$((outage_to - start)) s)"
while (($(date +%s) < end)); do
    round=$((round + 1))
    now=$(date +%s)
    call 200 "$healthy" /instances
    call 200 "$healthy" "/upload/jobs?namespace=atlas"
    call 200 "$healthy" "/file-browser?namespace=atlas&path=~/data"
    call 200 "$healthy" "/files?namespace=atlas&did=$dataset"
    call 200 "$healthy" "/did-search?namespace=cms&did=cms:*&type=all"
    if ((now >= outage_from && now < outage_to)); then
        call 502 "$healthy" "/list-scopes?namespace=atlas&rucio_outage=true"
        ((round % 2)) && call 502 "$healthy" "/list-rses?namespace=cms&rucio_outage=true"
    else
        call 200 "$healthy" "/list-scopes?namespace=atlas"
        call 200 "$healthy" "/list-rses?namespace=cms"
    fi
    ((round % 4 == 0)) && call 504 "$hung" "/list-scopes?namespace=atlas"
    ((round % 3 == 0)) && call 200 "$hung" /instances
    ((round % 5 == 0)) && call 404 "$healthy" /no-such-route
    ((round % 7 == 0)) && call 403 "$healthy" /instances stale-token
    sleep 0.3
done
echo "dashboard-picture: $round rounds; waiting for the last scrape and evaluation"
sleep 6

html=$work/dashboard.html
python3 "$repo/demo/tools/dashboard_picture.py" --prometheus "http://$prom" \
    --dashboard "$work/dashboard.json" --start "$start" --end "$(date +%s)" \
    --handler ListScopesHandler::get --objective rucio --out "$html" --size-file "$work/size"
read -r width height <"$work/size"
mkdir -p "$(dirname "$out")"
"$chromium" --headless=new --no-sandbox --hide-scrollbars --disable-gpu \
    --force-device-scale-factor=1 --window-size="$width,$height" \
    --screenshot="$out" "file://$html" 2>"$work/chromium.log" ||
    die "chromium failed: $(tail -n 5 "$work/chromium.log")"
[[ -s $out ]] || die "chromium wrote no $out"
echo "dashboard-picture: wrote $out (${width}x$height)"
