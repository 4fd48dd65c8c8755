using System.Globalization;
using System.Text.Json;
using Confluent.Kafka;
using StreamBert.Contracts;

namespace StreamBert.Kafka;

/// <summary>
/// Publishes and reads <see cref="ModelPublished"/> events on the compacted models topic, keyed by bundle name.
/// The topic is input like any other: <see cref="Parse"/> checks every field, so a reader never sees a null where the
/// contract says <c>required</c>, a file name with a directory in it, or a size without bound.
/// </summary>
public static class ModelEvents
{
    /// <summary>Largest event read; a real one is a few KiB (one sha256 per bundle file, a few metrics, label offsets).</summary>
    public const int MaxEventBytes = 1024 * 1024;

    private const int MaxFiles = 256;
    private const int MaxMetricTasks = 64;
    private const int MaxMetricsPerTask = 64;
    private const int MaxLabelOffsets = 4096;
    private const int MaxNameLength = 64;
    private const int MaxKeyLength = 255;
    private const int MaxPathLength = 4096;

    private static readonly JsonSerializerOptions ReadOptions = new() { MaxDepth = 8 };

    /// <summary>Produces the event and waits for the broker's acknowledgement (idempotent producer, acks=all).</summary>
    public static async Task<TopicPartitionOffset> PublishAsync(ProducerConfig config, string topic, ModelPublished published, CancellationToken cancellationToken)
    {
        using var producer = new ProducerBuilder<string, byte[]>(config).Build();
        var result = await producer.ProduceAsync(
            topic,
            new Message<string, byte[]> { Key = published.Name, Value = JsonSerializer.SerializeToUtf8Bytes(published) },
            cancellationToken).ConfigureAwait(false);
        return result.TopicPartitionOffset;
    }

    /// <summary>
    /// Event first, then CURRENT: publishes <paramref name="published"/> and, only once the broker acknowledged it, calls
    /// <paramref name="markCurrent"/> with its bundle and version (pass the registry's <c>SetCurrent</c>). The topic is the
    /// record processors follow; a registry that ran ahead of it would serve a version the topic then swaps back. A failed
    /// send throws and leaves CURRENT as it was; a crash between the two is repaired by the trainer's reconcile on start.
    /// </summary>
    public static async Task<TopicPartitionOffset> PublishThenMarkCurrentAsync(
        ProducerConfig config, string topic, ModelPublished published, Action<string, string> markCurrent, CancellationToken cancellationToken)
    {
        var position = await PublishAsync(config, topic, published, cancellationToken).ConfigureAwait(false);
        markCurrent(published.Name, published.Version);
        return position;
    }

    /// <summary>Parses and checks one event (<see cref="Validate"/>); throws <see cref="InvalidDataException"/> for anything else.</summary>
    public static ModelPublished Parse(ReadOnlySpan<byte> value)
    {
        if (value.Length > MaxEventBytes)
        {
            throw new InvalidDataException($"A models event of {value.Length} bytes exceeds {MaxEventBytes}.");
        }

        ModelPublished? published;
        try
        {
            published = JsonSerializer.Deserialize<ModelPublished>(value, ReadOptions);
        }
        catch (JsonException ex)
        {
            throw new InvalidDataException($"A models event is not ModelPublished JSON: {ex.Message}", ex);
        }

        if (published is null)
        {
            throw new InvalidDataException("A models event is JSON null.");
        }

        return Validate(published) is { } problem ? throw new InvalidDataException(problem) : published;
    }

    /// <summary>
    /// The first thing wrong with an event, or null. <c>required</c> only means the property is present, so nulls are
    /// checked here; names are plain (no path can be built from them), sha256 values 64 hex digits, metrics finite,
    /// every collection and string bounded.
    /// </summary>
    public static string? Validate(ModelPublished published)
    {
        if (!IsBundleName(published.Name))
        {
            return $"name {Quote(published.Name)} is not a bundle name";
        }

        if (!IsVersion(published.Version))
        {
            return $"version {Quote(published.Version)} is not v1, v2, ...";
        }

        if (published.Path is null || published.Path.Length > MaxPathLength || published.Path.Any(char.IsControl))
        {
            return "path is missing, too long or has control characters";
        }

        if (published.Sha256 is not { Count: > 0 and <= MaxFiles } files)
        {
            return $"sha256 must list 1 to {MaxFiles} files";
        }

        foreach (var (file, sha) in files)
        {
            if (!IsPlainFileName(file))
            {
                return $"sha256 names {Quote(file)}, not a plain file name";
            }

            if (sha is not { Length: 64 } || !sha.All(char.IsAsciiHexDigit))
            {
                return $"sha256 of {file} is not 64 hex digits";
            }
        }

        if (published.Metrics is not { Count: <= MaxMetricTasks } metrics)
        {
            return $"metrics must be an object of at most {MaxMetricTasks} tasks";
        }

        foreach (var (task, values) in metrics)
        {
            if (task is not { Length: > 0 and <= MaxNameLength } || values is not { Count: <= MaxMetricsPerTask })
            {
                return $"metrics of {Quote(task)} must be at most {MaxMetricsPerTask} named numbers";
            }

            foreach (var (name, number) in values)
            {
                if (name is not { Length: > 0 and <= MaxNameLength } || !double.IsFinite(number))
                {
                    return $"metric {task}.{Quote(name)} is not a named finite number";
                }
            }
        }

        if (published.ParentVersion is { } parent && !IsVersion(parent))
        {
            return $"parentVersion {Quote(parent)} is not v1, v2, ...";
        }

        if (published.LabelOffsets is not { Count: <= MaxLabelOffsets } offsets
            || offsets.Any(o => o.Key is not { Length: > 0 and <= MaxKeyLength } || o.Value < 0))
        {
            return $"labelOffsets must map at most {MaxLabelOffsets} topic/partition names to offsets >= 0";
        }

        if (published.Reason is not { Length: > 0 and <= 32 } reason || !reason.All(c => char.IsAsciiLetterLower(c) || c == '-'))
        {
            return $"reason {Quote(published.Reason)} is not a lowercase word";
        }

        return null;
    }

    /// <summary>Bundle names: ASCII letters, digits, <c>.</c>, <c>_</c>, <c>-</c>, starting with a letter or digit (as the registry's).</summary>
    public static bool IsBundleName(string? name) =>
        name is { Length: > 0 and <= MaxNameLength } && char.IsAsciiLetterOrDigit(name[0])
        && name.All(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-');

    /// <summary><c>v</c> and a number that fits an int (as the registry's <c>TryParseVersion</c>).</summary>
    public static bool IsVersion(string? version) =>
        version is { Length: > 1 } && version[0] == 'v'
        && int.TryParse(version.AsSpan(1), NumberStyles.None, CultureInfo.InvariantCulture, out _);

    /// <summary>One path segment: no separator, drive colon or control character, not <c>.</c> or <c>..</c>.</summary>
    public static bool IsPlainFileName(string? name) =>
        name is { Length: > 0 and <= 255 } && name is not ("." or "..")
        && name.IndexOfAny(['/', '\\', ':']) < 0 && !name.Any(char.IsControl);

    /// <summary>Latest events per key read back from the topic (see <see cref="ReadLatest"/>).</summary>
    public sealed record LatestEvents(IReadOnlyDictionary<string, ModelPublished> Latest, int Unreadable, bool TopicExists);

    /// <summary>
    /// Reads <paramref name="topic"/> from the beginning to its end as of now and returns the latest readable event per
    /// key (compaction may not have run yet, so older ones are still there). Unreadable events are counted, not returned;
    /// an event whose key is not its bundle name is unreadable. Throws <see cref="TimeoutException"/> when the end is not
    /// reached within <paramref name="timeout"/>.
    /// </summary>
    public static LatestEvents ReadLatest(ConsumerConfig config, string topic, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var settings = new ConsumerConfig(config.ToDictionary(p => p.Key, p => p.Value))
        {
            EnableAutoCommit = false,
            EnableAutoOffsetStore = false,
            EnablePartitionEof = true,
            AutoOffsetReset = AutoOffsetReset.Earliest,
        };
        using var consumer = new ConsumerBuilder<string?, byte[]?>(settings).Build();
        var deadline = DateTime.UtcNow + timeout;
        var metadata = MetadataOf(settings, topic, timeout);
        if (metadata is null)
        {
            return new LatestEvents(new Dictionary<string, ModelPublished>(), 0, TopicExists: false);
        }

        var ends = new Dictionary<int, long>();
        foreach (var partition in metadata)
        {
            var marks = consumer.QueryWatermarkOffsets(new TopicPartition(topic, partition), Remaining(deadline));
            if (marks.High.Value > marks.Low.Value)
            {
                ends[partition] = marks.High.Value;
            }
        }

        var latest = new Dictionary<string, ModelPublished>(StringComparer.Ordinal);
        var unreadable = 0;
        consumer.Assign(ends.Keys.Select(p => new TopicPartitionOffset(topic, p, Offset.Beginning)));
        while (ends.Count > 0)
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"Reading {topic} to its end took longer than {timeout}.");
            }

            var result = consumer.Consume(TimeSpan.FromMilliseconds(100));
            if (result is null)
            {
                continue;
            }

            var partition = result.Partition.Value;
            if (!result.IsPartitionEOF && result.Message.Value is { Length: > 0 } value)
            {
                try
                {
                    var published = Parse(value);
                    if (result.Message.Key == published.Name)
                    {
                        latest[published.Name] = published;
                    }
                    else
                    {
                        unreadable++;
                    }
                }
                catch (InvalidDataException)
                {
                    unreadable++;
                }
            }

            if (result.IsPartitionEOF || result.Offset.Value + 1 >= ends.GetValueOrDefault(partition))
            {
                ends.Remove(partition);
            }
        }

        consumer.Close();
        return new LatestEvents(latest, unreadable, TopicExists: true);
    }

    private static List<int>? MetadataOf(ConsumerConfig config, string topic, TimeSpan timeout)
    {
        var adminConfig = new AdminClientConfig(config.Where(p => p.Key is "bootstrap.servers" or "client.id"
                || p.Key.StartsWith("security.", StringComparison.Ordinal) || p.Key.StartsWith("sasl.", StringComparison.Ordinal)
                || p.Key.StartsWith("ssl.", StringComparison.Ordinal) || p.Key.StartsWith("socket.", StringComparison.Ordinal))
            .ToDictionary(p => p.Key, p => p.Value));
        using var admin = new AdminClientBuilder(adminConfig).Build();
        var found = admin.GetMetadata(topic, timeout).Topics.SingleOrDefault(t => t.Topic == topic);
        return found is { Error.IsError: false, Partitions.Count: > 0 } ? [.. found.Partitions.Select(p => p.PartitionId)] : null;
    }

    private static TimeSpan Remaining(DateTime deadline) =>
        deadline - DateTime.UtcNow is { Ticks: > 0 } left ? left : TimeSpan.FromMilliseconds(1);

    private static string Quote(string? value) =>
        value is null ? "null" : "'" + (value.Length > 80 ? value[..80] + "…" : value) + "'";
}
