namespace StreamBert.Processor.Diagnostics;

/// <summary>Records not yet consumed on one assigned partition: high watermark minus the consumer's position.</summary>
public readonly record struct PartitionLag(string Topic, int Partition, long Lag);

/// <summary>What the last broker probe found; <see cref="LastContact"/> is null until a probe succeeded.</summary>
public sealed record BrokerContact(bool Reachable, DateTimeOffset? LastContact, string? LastError);

/// <summary>
/// Consumer-side state the ingest stage publishes for the metrics and readiness endpoints: lag per
/// assigned partition and whether the brokers answered the last probe. Writers replace whole immutable
/// snapshots, so readers on the HTTP threads never see a half-updated view and take no lock.
/// </summary>
public sealed class IngestStatus
{
    private readonly TimeProvider _time;
    private IReadOnlyList<PartitionLag> _lag = [];
    private BrokerContact _broker = new(false, null, null);

    public IngestStatus(TimeProvider? time = null) => _time = time ?? TimeProvider.System;

    public IReadOnlyList<PartitionLag> Lag => Volatile.Read(ref _lag);

    public BrokerContact Broker => Volatile.Read(ref _broker);

    public void PublishLag(IReadOnlyList<PartitionLag> lag) => Volatile.Write(ref _lag, lag);

    public void BrokerReachable() => Volatile.Write(ref _broker, new BrokerContact(true, _time.GetUtcNow(), null));

    /// <summary>Keeps the time of the last success, so readiness can say for how long the brokers have been away.</summary>
    public void BrokerUnreachable(string reason)
    {
        var last = Volatile.Read(ref _broker);
        Volatile.Write(ref _broker, new BrokerContact(false, last.LastContact, reason));
    }
}
