#!/usr/bin/env bash
# Make sure the services the tests talk to are up: PostgreSQL and Redis on
# 127.0.0.1, started with this machine's own commands when they are not.
set -euo pipefail

up() { timeout 2 bash -c "</dev/tcp/127.0.0.1/$1" 2>/dev/null; }

wait_port() {
  for _ in $(seq 1 60); do up "$1" && return 0; sleep 0.5; done
  echo "port $1 did not open" >&2; return 1
}

if ! up 5432; then
  echo "starting PostgreSQL"
  if ! command -v pg_ctlcluster >/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql
  fi
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | tail -1)" main start
  wait_port 5432
fi

if ! up 6379; then
  echo "starting Redis"
  if ! command -v redis-server >/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server
  fi
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log
  wait_port 6379
fi

# RabbitMQ (guest/guest): the OpenStack notifications are read off it by an
# oslo.messaging listener.
if ! up 5672; then
  echo "starting RabbitMQ"
  if ! command -v rabbitmq-server >/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq rabbitmq-server
  fi
  rabbitmq-server -detached 2>/dev/null || (rabbitmq-server >/var/log/rabbitmq-ci.log 2>&1 &)
  wait_port 5672
fi

# The metrics tests scrape with a real Prometheus and lint with promtool.
if ! command -v prometheus >/dev/null || ! command -v promtool >/dev/null; then
  echo "installing Prometheus"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
    --no-install-recommends prometheus
fi

# The tests' OpenID Connect provider runs on Node.js (installed with npm).
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "installing Node.js and npm"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm
fi
