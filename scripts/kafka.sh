#!/usr/bin/env bash
# A real Apache Kafka (KRaft) broker for development and tests, from the jars Maven Central serves.
#
#   scripts/kafka.sh install                  resolve the broker jars with Maven into .tools/kafka/ (cached)
#   scripts/kafka.sh up        [DIR]          format + start one combined broker/controller on free loopback
#                                             ports; prints the bootstrap address (also in DIR/bootstrap)
#   scripts/kafka.sh down      [DIR]          stop it (SIGTERM, then SIGKILL after a grace period)
#   scripts/kafka.sh cluster-up   [DIR]       the same with three brokers (RF 3, min.insync.replicas 2)
#   scripts/kafka.sh cluster-down [DIR]
#   scripts/kafka.sh node-up   DIR N          restart node N of a formatted cluster (after a fault test kill)
#   scripts/kafka.sh status    [DIR]          which nodes run, and the bootstrap address
#
# DIR defaults to $HCML_DATA_DIR/kafka/single (or .../cluster), i.e. var/kafka/... in the repository.
# Environment: HCML_KAFKA_VERSION (default 4.1.1), HCML_KAFKA_HEAP (default 384m per node),
# HCML_KAFKA_START_TIMEOUT (seconds, default 90).
# Opt-in SASL (single node, `up` only): HCML_KAFKA_SASL_USERS="user:password[,user:password]" adds a second
# listener SASL_PLAINTEXT with the mechanisms PLAIN and SCRAM-SHA-256 for those users (letters, digits,
# '-' and '_' only); its address goes to DIR/sasl_bootstrap and stderr. HCML_KAFKA_TLS_LISTENER=1 adds an
# SSL listener that requires a client certificate (mutual TLS): a throw-away CA, the broker's certificate
# (127.0.0.1, localhost) and a client certificate are made with openssl into DIR/tls (ca.crt, client.crt,
# client.key); its address goes to DIR/ssl_bootstrap. The PLAINTEXT listener stays (inter-broker traffic,
# topic set-up).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
VERSION="${HCML_KAFKA_VERSION:-4.1.1}"
LOG4J_VERSION="2.24.3"
TOOLS="$ROOT/.tools/kafka/$VERSION"
LIBS="$TOOLS/libs"
DATA_ROOT="${HCML_DATA_DIR:-$ROOT/var}"
HEAP="${HCML_KAFKA_HEAP:-384m}"
START_TIMEOUT="${HCML_KAFKA_START_TIMEOUT:-90}"

log() { echo "kafka.sh: $*" >&2; }

install() {
  if [[ -f "$TOOLS/.complete" ]]; then
    log "Kafka $VERSION jars already in $LIBS"
    return
  fi
  if ! command -v mvn >/dev/null || ! command -v java >/dev/null; then
    if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
      log "installing Java 17 and Maven from Debian's packages"
      apt-get update -qq >&2
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openjdk-17-jre-headless maven >&2
    else
      log "Java 17+ and Maven are required: apt-get install -y openjdk-17-jre-headless maven"
      exit 1
    fi
  fi
  mkdir -p "$TOOLS"
  cat >"$TOOLS/pom.xml" <<EOF
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>hcml.tools</groupId><artifactId>kafka-broker</artifactId><version>$VERSION</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId><version>$VERSION</version></dependency>
    <!-- the SLF4J binding the Apache distribution ships, so the broker logs through log4j2 -->
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-slf4j-impl</artifactId><version>$LOG4J_VERSION</version></dependency>
  </dependencies>
</project>
EOF
  log "resolving org.apache.kafka:kafka_2.13:$VERSION and its runtime dependencies from Maven Central"
  rm -rf "$LIBS"
  mvn -q -B -f "$TOOLS/pom.xml" dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$LIBS" >&2
  cat >"$TOOLS/log4j2.properties" <<'EOF'
status = warn
appender.file.type = File
appender.file.name = FILE
appender.file.fileName = ${sys:kafka.logs.dir}/server.log
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = FILE
logger.kafka.name = kafka
logger.kafka.level = INFO
logger.apache.name = org.apache.kafka
logger.apache.level = WARN
logger.raft.name = org.apache.kafka.raft
logger.raft.level = WARN
EOF
  touch "$TOOLS/.complete"
  log "installed $(ls "$LIBS" | wc -l) jars in $LIBS"
}

free_port() {
  # Ask the kernel for an unused loopback port (bind to port 0).
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

cluster_id() {
  python3 -c 'import base64, uuid; print(base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("="))'
}

SASL_USERS="${HCML_KAFKA_SASL_USERS:-}"
TLS_LISTENER="${HCML_KAFKA_TLS_LISTENER:-}"

# make_tls DIR: a CA, the broker's key + certificate (PEM, SAN 127.0.0.1 and localhost) and a client's,
# valid for 2 days, into DIR/tls. Keys are unencrypted PKCS#8 PEM (what Kafka's PEM keystore and
# librdkafka read); everything is mode 600.
make_tls() {
  local tls=$1/tls
  command -v openssl >/dev/null || { log "HCML_KAFKA_TLS_LISTENER needs openssl (apt-get install -y openssl)"; exit 1; }
  rm -rf "$tls"
  mkdir -p "$tls"
  chmod 700 "$tls"
  (
    cd "$tls"
    umask 077
    openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 2 -subj /CN=hcml-test-ca
    openssl req -newkey rsa:2048 -nodes -keyout broker.key -out broker.csr -subj /CN=localhost
    printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >broker.ext
    openssl x509 -req -in broker.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out broker.crt -days 2 -extfile broker.ext
    openssl req -newkey rsa:2048 -nodes -keyout client.key -out client.csr -subj /CN=hcml-test-client
    openssl x509 -req -in client.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out client.crt -days 2
    cat broker.key broker.crt >broker.pem
    rm -f ./*.csr broker.ext
  ) >"$1/logs/tls.log" 2>&1 || { cat "$1/logs/tls.log" >&2; exit 1; }
}

# sasl_users_valid: HCML_KAFKA_SASL_USERS is user:password[,user:password] with safe characters only
# (they go into a JAAS line and a StorageTool argument unquoted).
sasl_users_valid() {
  [[ "$SASL_USERS" =~ ^[A-Za-z0-9_-]+:[A-Za-z0-9_-]+(,[A-Za-z0-9_-]+:[A-Za-z0-9_-]+)*$ ]]
}

# write_config DIR NODE_ID BROKER_PORT CONTROLLER_PORT VOTERS REPLICATION MIN_ISR [SASL_PORT [SSL_PORT]]
write_config() {
  local dir=$1 id=$2 bport=$3 cport=$4 voters=$5 rf=$6 isr=$7 sport=${8:-} tport=${9:-}
  local listeners="PLAINTEXT://127.0.0.1:$bport" map="PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT"
  if [[ -n "$sport" ]]; then
    listeners+=",SASL_PLAINTEXT://127.0.0.1:$sport"
    map+=",SASL_PLAINTEXT:SASL_PLAINTEXT"
  fi
  if [[ -n "$tport" ]]; then
    listeners+=",SSL://127.0.0.1:$tport"
    map+=",SSL:SSL"
  fi
  mkdir -p "$dir/data" "$dir/logs"
  touch "$dir/server.properties"
  chmod 600 "$dir/server.properties"  # it may hold the test users' passwords (SASL)
  cat >"$dir/server.properties" <<EOF
process.roles=broker,controller
node.id=$id
controller.quorum.voters=$voters
listeners=$listeners,CONTROLLER://127.0.0.1:$cport
advertised.listeners=$listeners
controller.listener.names=CONTROLLER
listener.security.protocol.map=$map
inter.broker.listener.name=PLAINTEXT
log.dirs=$dir/data
num.partitions=3
default.replication.factor=$rf
min.insync.replicas=$isr
offsets.topic.replication.factor=$rf
offsets.topic.num.partitions=6
transaction.state.log.replication.factor=$rf
transaction.state.log.min.isr=$isr
share.coordinator.state.topic.replication.factor=$rf
share.coordinator.state.topic.min.isr=$isr
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
log.retention.hours=24
log.segment.bytes=16777216
unclean.leader.election.enable=false
EOF
  if [[ -n "$sport" ]]; then
    local jaas="" pair
    for pair in ${SASL_USERS//,/ }; do jaas+=" user_${pair%%:*}=\"${pair#*:}\""; done
    cat >>"$dir/server.properties" <<EOF
sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256
listener.name.sasl_plaintext.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required$jaas;
listener.name.sasl_plaintext.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
EOF
    echo "$sport" >"$dir/sasl_port"
  fi
  if [[ -n "$tport" ]]; then
    make_tls "$dir"
    cat >>"$dir/server.properties" <<EOF
listener.name.ssl.ssl.keystore.type=PEM
listener.name.ssl.ssl.keystore.location=$dir/tls/broker.pem
listener.name.ssl.ssl.truststore.type=PEM
listener.name.ssl.ssl.truststore.location=$dir/tls/ca.crt
listener.name.ssl.ssl.client.auth=required
EOF
    echo "$tport" >"$dir/ssl_port"
  fi
  echo "$bport" >"$dir/port"
}

# java_args DIR: the JVM options of a node, into the JAVA_ARGS array.
java_args() {
  local dir=$1
  JAVA_ARGS=(-Xms64m "-Xmx$HEAP" -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:TieredStopAtLevel=1
    "-Dkafka.logs.dir=$dir/logs" "-Dlog4j2.configurationFile=$TOOLS/log4j2.properties" -cp "$LIBS/*")
}

format_node() {
  local dir=$1 cid=$2 scram=() pair
  java_args "$dir"
  if [[ -f "$dir/sasl_port" ]]; then  # SCRAM credentials live in the cluster metadata: written at format time
    for pair in ${SASL_USERS//,/ }; do scram+=(--add-scram "SCRAM-SHA-256=[name=${pair%%:*},password=${pair#*:}]"); done
  fi
  java "${JAVA_ARGS[@]}" kafka.tools.StorageTool format -t "$cid" -c "$dir/server.properties" --ignore-formatted \
    "${scram[@]}" >"$dir/logs/format.log" 2>&1 || { cat "$dir/logs/format.log" >&2; exit 1; }
}

start_node() {
  local dir=$1
  if [[ -f "$dir/pid" ]] && kill -0 "$(cat "$dir/pid")" 2>/dev/null; then
    log "node in $dir already runs (pid $(cat "$dir/pid"))"
    return
  fi
  : >"$dir/logs/server.log"
  # setsid: the broker outlives this script but not a `down`; its own process group makes it easy to stop.
  java_args "$dir"
  setsid java "${JAVA_ARGS[@]}" kafka.Kafka "$dir/server.properties" >"$dir/logs/stdout.log" 2>&1 </dev/null &
  echo $! >"$dir/pid"
}

wait_node() {
  local dir=$1 deadline=$((SECONDS + START_TIMEOUT))
  local port
  port=$(cat "$dir/port")
  while ((SECONDS < deadline)); do
    if ! kill -0 "$(cat "$dir/pid")" 2>/dev/null; then
      log "broker in $dir exited during start-up:"
      tail -40 "$dir/logs/stdout.log" "$dir/logs/server.log" >&2 || true
      return 1
    fi
    if grep -q "Kafka Server started" "$dir/logs/server.log" 2>/dev/null &&
      (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      return 0
    fi
    sleep 0.3
  done
  log "broker in $dir did not answer on 127.0.0.1:$port within ${START_TIMEOUT}s"
  tail -40 "$dir/logs/server.log" >&2 || true
  return 1
}

stop_node() {
  local dir=$1
  [[ -f "$dir/pid" ]] || return 0
  local pid
  pid=$(cat "$dir/pid")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.2
    done
    if kill -0 "$pid" 2>/dev/null; then
      log "pid $pid did not stop within 20 s, killing it"
      kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  rm -f "$dir/pid"
}

up() {
  local dir=${1:-$DATA_ROOT/kafka/single}
  if [[ -n "$SASL_USERS" ]] && ! sasl_users_valid; then
    log "HCML_KAFKA_SASL_USERS must be user:password[,user:password] of letters, digits, '-' and '_'"
    exit 2
  fi
  install >/dev/null 2>&1 || install
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  local attempt
  for attempt in 1 2 3; do
    if [[ ! -f "$dir/server.properties" ]]; then
      local bport cport sport="" tport=""
      bport=$(free_port)
      cport=$(free_port)
      [[ -z "$SASL_USERS" ]] || sport=$(free_port)
      [[ -z "$TLS_LISTENER" || "$TLS_LISTENER" == 0 ]] || tport=$(free_port)
      write_config "$dir" 1 "$bport" "$cport" "1@127.0.0.1:$cport" 1 1 "$sport" "$tport"
      format_node "$dir" "$(cluster_id)"
    fi
    start_node "$dir"
    if wait_node "$dir"; then
      if [[ -f "$dir/sasl_port" ]]; then
        echo "127.0.0.1:$(cat "$dir/sasl_port")" >"$dir/sasl_bootstrap"
        log "SASL_PLAINTEXT listener (PLAIN, SCRAM-SHA-256) on $(cat "$dir/sasl_bootstrap")"
      fi
      if [[ -f "$dir/ssl_port" ]]; then
        echo "127.0.0.1:$(cat "$dir/ssl_port")" >"$dir/ssl_bootstrap"
        log "SSL listener (client certificate required; CA and client files in $dir/tls) on $(cat "$dir/ssl_bootstrap")"
      fi
      echo "127.0.0.1:$(cat "$dir/port")" | tee "$dir/bootstrap"
      return
    fi
    stop_node "$dir"
    # e.g. a port taken between choosing and binding it: start over with fresh ports and storage
    log "start attempt $attempt failed; retrying with new ports"
    rm -rf "$dir/server.properties" "$dir/data" "$dir/port" "$dir/sasl_port" "$dir/sasl_bootstrap" \
      "$dir/ssl_port" "$dir/ssl_bootstrap" "$dir/tls"
  done
  exit 1
}

down() {
  local dir=${1:-$DATA_ROOT/kafka/single}
  stop_node "$dir"
  log "stopped the broker in $dir"
}

cluster_up() {
  local dir=${1:-$DATA_ROOT/kafka/cluster}
  install >/dev/null 2>&1 || install
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  local attempt n
  for attempt in 1 2 3; do
    if [[ ! -f "$dir/node-1/server.properties" ]]; then
      local bports=() cports=() voters="" cid
      for n in 1 2 3; do
        bports[n]=$(free_port)
        cports[n]=$(free_port)
        voters+="${voters:+,}$n@127.0.0.1:${cports[n]}"
      done
      cid=$(cluster_id)
      for n in 1 2 3; do
        write_config "$dir/node-$n" "$n" "${bports[n]}" "${cports[n]}" "$voters" 3 2
        format_node "$dir/node-$n" "$cid"
      done
    fi
    for n in 1 2 3; do start_node "$dir/node-$n"; done
    local ok=1
    for n in 1 2 3; do wait_node "$dir/node-$n" || { ok=0; break; }; done
    if ((ok)); then
      local bootstrap=""
      for n in 1 2 3; do bootstrap+="${bootstrap:+,}127.0.0.1:$(cat "$dir/node-$n/port")"; done
      echo "$bootstrap" | tee "$dir/bootstrap"
      return
    fi
    cluster_down "$dir"
    log "cluster start attempt $attempt failed; retrying with new ports"
    rm -rf "$dir"/node-*
  done
  exit 1
}

cluster_down() {
  local dir=${1:-$DATA_ROOT/kafka/cluster}
  for n in 1 2 3; do stop_node "$dir/node-$n" & done
  wait
  log "stopped the cluster in $dir"
}

node_up() {
  local dir=$1 n=$2
  start_node "$dir/node-$n"
  wait_node "$dir/node-$n"
}

status() {
  local dir=${1:-}
  local dirs=()
  if [[ -n "$dir" ]]; then dirs=("$dir"); else dirs=("$DATA_ROOT/kafka/single" "$DATA_ROOT/kafka/cluster"); fi
  for d in "${dirs[@]}"; do
    for node in "$d" "$d"/node-*; do
      [[ -f "$node/port" ]] || continue
      if [[ -f "$node/pid" ]] && kill -0 "$(cat "$node/pid")" 2>/dev/null; then
        echo "$node: running (pid $(cat "$node/pid")) on 127.0.0.1:$(cat "$node/port")"
      else
        echo "$node: stopped"
      fi
    done
  done
}

cmd=${1:-}
shift || true
case "$cmd" in
  install) install ;;
  up) up "$@" ;;
  down) down "$@" ;;
  cluster-up) cluster_up "$@" ;;
  cluster-down) cluster_down "$@" ;;
  node-up) node_up "$@" ;;
  status) status "$@" ;;
  *)
    sed -n '2,24p' "$0" >&2
    exit 2
    ;;
esac
