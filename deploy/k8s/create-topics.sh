#!/bin/sh
# Creates every StreamBert topic; safe to re-run (--if-not-exists). One script for both deployments:
# docker-compose.yml's `topics` service mounts it, and kustomize puts it in the ConfigMap that the
# Kubernetes Job `streambert-topics` runs.
#
# Partitions of the input topics cap the processor's parallelism: a partition is read by one member
# of the consumer group, so replicas beyond the partition count sit idle. KEDA's maxReplicaCount
# (processor-scaledobject.yaml) must not exceed them; StreamBert.Deploy.Tests checks it.
#
# Environment: BOOTSTRAP (default kafka:9092), REPLICATION (default 1; 3 on a production cluster).
set -eu
BOOTSTRAP="${BOOTSTRAP:-kafka:9092}"
REPLICATION="${REPLICATION:-1}"
KAFKA_TOPICS="${KAFKA_TOPICS:-/opt/kafka/bin/kafka-topics.sh}"

create() {
  topic="$1"
  partitions="$2"
  shift 2
  "$KAFKA_TOPICS" --bootstrap-server "$BOOTSTRAP" --create --if-not-exists \
    --topic "$topic" --partitions "$partitions" --replication-factor "$REPLICATION" "$@"
}

#      topic               partitions  extra settings
create messages            12
create messages.spam       12
create messages.dlq         3
create articles            12
create articles.claims     12
create articles.entities   12
create articles.dlq         3
# One trainer reads the labels; a few partitions are plenty.
create labels.spam          3
create labels.claims        3
create labels.entities      3
# The trainer's one dead-letter topic for all three label topics (Topics:LabelsDlq).
create labels.dlq           1
# Compacted: the latest ModelPublished per bundle is all a starting processor needs.
create models               1          --config cleanup.policy=compact
# One report per training run (TrainingRunReport), read whole by the reviewer's desk; a month of history is plenty.
create trainer.runs         1          --config retention.ms=2592000000

echo "StreamBert topics are ready on $BOOTSTRAP"
