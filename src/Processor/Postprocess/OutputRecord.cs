using Confluent.Kafka;
using StreamBert.Processor.Ingest;

namespace StreamBert.Processor.Postprocess;

/// <summary>
/// One record to produce. A dead letter carries its <see cref="Error"/> and the complete <see cref="Headers"/> it is
/// produced with (reason, source, the input's headers, truncation marks; see <see cref="DeadLetters"/>); other outputs
/// get only the trace header egress adds.
/// </summary>
public sealed record OutputRecord(string Topic, byte[]? Key, byte[] Value, string? Error = null, Headers? Headers = null);

/// <summary>
/// Every output caused by one input record. The input's offset may be committed once all of them are
/// acknowledged; a rejected input has exactly one output, its dead letter.
/// </summary>
public sealed record OutputSet(InputRecord Input, IReadOnlyList<OutputRecord> Records, string? DocumentId);
