using StreamBert.Processor.Ingest;

namespace StreamBert.Processor.Postprocess;

/// <summary>One record to produce.</summary>
public sealed record OutputRecord(string Topic, byte[]? Key, byte[] Value, string? Error = null);

/// <summary>
/// Every output caused by one input record. The input's offset may be committed once all of them are
/// acknowledged; a rejected input has exactly one output, its dead letter.
/// </summary>
public sealed record OutputSet(InputRecord Input, IReadOnlyList<OutputRecord> Records, string? DocumentId);
