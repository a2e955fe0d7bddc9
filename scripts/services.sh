#!/usr/bin/env bash
# Start the local services the test suite talks to, if they are not already answering.
# RabbitMQ 127.0.0.1:5672, PostgreSQL 127.0.0.1:5432 (database "test"), Redis 127.0.0.1:6379,
# NATS with JetStream 127.0.0.1:4222. Waits until each answers (up to 90 s each).
set -u

up() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_for() {  # name port
  for _ in $(seq 1 180); do up "$2" && { echo "services: $1 is up on $2"; return 0; }; sleep 0.5; done
  echo "services: $1 did not come up on port $2" >&2; return 1
}

start() {  # name port command...
  local name=$1 port=$2; shift 2
  if up "$port"; then echo "services: $name already up on $port"; return 0; fi
  echo "services: starting $name"
  "$@" >/dev/null 2>&1 || echo "services: '$*' failed" >&2
  wait_for "$name" "$port"
}

rc=0
start rabbitmq 5672 rabbitmq-server -detached || rc=1
start postgresql 5432 bash -c 'pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start' || rc=1
start redis 6379 redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no || rc=1
start nats 4222 start-stop-daemon --start --oknodo --background --exec /usr/sbin/nats-server -- -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server -l /var/log/nats-server.log || rc=1
# RabbitMQ accepts TCP before its AMQP layer is ready; give it a moment to finish booting.
if command -v rabbitmqctl >/dev/null 2>&1; then timeout 60 rabbitmqctl await_startup >/dev/null 2>&1 || true; fi
exit $rc
