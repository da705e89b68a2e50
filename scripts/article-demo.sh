#!/usr/bin/env bash
# The article's first example, end to end, on real containers:
# create adds a writable layer, start gives it a process space, a file written
# inside lands in the writable layer on the host, and stays there after stop.
set -euo pipefail
cd "$(dirname "$0")/.."
LL=".venv/bin/layerlab"
step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; "$@"; }

name="article-demo-$$"
step $LL create --name "$name" busybox sleep 3600
step $LL ps -a
step $LL start "$name"
step $LL ps
step $LL exec "$name" touch /happiness.txt
step $LL diff "$name" 2>/dev/null || true
step $LL stop -t 1 "$name"
upper=$($LL inspect -f '{{.GraphDriver.Data.UpperDir}}' "$name")
printf '\n\033[1m$ find %s -name happiness.txt\033[0m\n' "$upper"
find "$upper" -name happiness.txt
echo
echo "The container is stopped, but its writable layer - and happiness.txt - are still on the host."
step $LL rm "$name"
