using Confluent.Kafka;

namespace StreamBert.Processor.Ingest;

/// <summary>
/// One consumed Kafka record, as raw bytes: parsing happens in Preprocess, so a record that cannot be
/// parsed still reaches the dead-letter topic byte for byte.
/// </summary>
public sealed record InputRecord(
    TopicPartitionOffset Position,
    byte[]? Key,
    byte[]? Value,
    Headers Headers,
    long ConsumedAtTicks,
    int Generation);
