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

# RabbitMQ can be up on its port yet wedged (seen here: the AMQP handshake never answered, with
# hundreds of sockets in CLOSE-WAIT, after a day of quorum queues created and deleted). Ask for the
# handshake: a healthy broker answers the protocol header with a Connection.Start frame (0x01).
amqp_answers() {
  timeout 15 bash -c 'exec 3<>/dev/tcp/127.0.0.1/5672 && printf "AMQP\x00\x00\x09\x01" >&3 \
    && [ "$(head -c 1 <&3 | od -An -tx1 | tr -d " ")" = 01 ]' 2>/dev/null
}

start_rabbitmq() {
  # Under su, the rabbitmq user gets a soft limit of 1,024 open files; raise it to the hard limit.
  if [ "$(id -u)" = 0 ] && id rabbitmq >/dev/null 2>&1 && [ -x /usr/lib/rabbitmq/bin/rabbitmq-server ]; then
    su rabbitmq -s /bin/sh -c 'ulimit -n "$(ulimit -Hn)"; cd /var/lib/rabbitmq && /usr/lib/rabbitmq/bin/rabbitmq-server -detached'
  else
    rabbitmq-server -detached
  fi
}

if up 5672 && ! amqp_answers; then
  echo "services: rabbitmq listens on 5672 but does not answer the AMQP handshake; restarting it"
  timeout 30 rabbitmqctl stop >/dev/null 2>&1 || pkill -9 -u rabbitmq beam.smp || true
  for _ in $(seq 1 40); do up 5672 || break; sleep 0.5; done
fi

rc=0
start rabbitmq 5672 start_rabbitmq || rc=1
start postgresql 5432 bash -c 'pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start' || rc=1
start redis 6379 redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no || rc=1
start nats 4222 start-stop-daemon --start --oknodo --background --exec /usr/sbin/nats-server -- -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server -l /var/log/nats-server.log || rc=1
# RabbitMQ accepts TCP before its AMQP layer is ready; give it a moment to finish booting.
if command -v rabbitmqctl >/dev/null 2>&1; then timeout 60 rabbitmqctl await_startup >/dev/null 2>&1 || true; fi
if up 5672 && ! amqp_answers; then
  echo "services: rabbitmq still does not answer the AMQP handshake after a restart; its queue" \
    "database may need a reset (rabbitmqctl stop_app; rabbitmqctl reset; rabbitmqctl start_app)" >&2
  rc=1
fi
exit $rc
