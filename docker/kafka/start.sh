#!/bin/bash
# Start the Docker stack's Kafka: refuse placeholder secrets, format the log directory once with
# the `admin` SCRAM user (KRaft keeps SCRAM credentials in its metadata, so the first super user
# must be written at format time), then run the broker with docker/kafka/server.properties.
set -euo pipefail
source /etc/kafka/tracer/secrets.sh
require_secret KAFKA_ADMIN_PASSWORD
require_secret KAFKA_KEYSTORE_PASSWORD
config=/etc/kafka/tracer/server.properties
/opt/kafka/bin/kafka-storage.sh format --ignore-formatted \
  --cluster-id "${KAFKA_CLUSTER_ID:?set KAFKA_CLUSTER_ID}" --config "$config" \
  --add-scram "SCRAM-SHA-512=[name=admin,password=${KAFKA_ADMIN_PASSWORD}]"
exec /opt/kafka/bin/kafka-server-start.sh "$config"
