#!/bin/sh
# Type-checks the demo's dashboards (both histogram modes) against @grafana/schema's Dashboard
# type: npm installs @grafana/schema 11 and TypeScript into target/grafana-schema, tsc --noEmit
# --strict checks a file assigning each printed dashboard to `Dashboard` (excess properties
# refused). `"mode": "absolute"` is written as ThresholdsMode.Absolute, its value, because a
# string literal is not assignable to a TypeScript string enum. Run from the repository root.
set -eu
dir=target/grafana-schema
mkdir -p "$dir"
cargo build -q -p handler-metrics-demo
if [ ! -x "$dir/node_modules/.bin/tsc" ]; then
    (cd "$dir" && npm init -y >/dev/null && npm install --no-audit --no-fund @grafana/schema@11 typescript@5)
fi
for mode in classic native; do
    flag=
    [ "$mode" = native ] && flag=--native-histograms
    {
        echo "import { type Dashboard, ThresholdsMode } from '@grafana/schema';"
        echo "export const dashboard: Dashboard ="
        target/debug/handler-metrics-demo $flag --print-dashboard |
            sed 's/"mode": "absolute"/"mode": ThresholdsMode.Absolute/'
        echo ";"
    } > "$dir/$mode.ts"
done
cd "$dir"
node_modules/.bin/tsc --noEmit --strict --moduleResolution bundler --module esnext \
    --target es2020 classic.ts native.ts
echo "both dashboards are @grafana/schema $(node -p 'require("@grafana/schema/package.json").version') Dashboards"
