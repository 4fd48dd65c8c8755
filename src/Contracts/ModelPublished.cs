using System.Text.Json.Serialization;

namespace StreamBert.Contracts;

/// <summary>
/// The event on the compacted <see cref="Topics.Models"/> topic (key = bundle name) that tells every
/// processor which version of a bundle to serve. Compaction keeps the latest event per bundle, so a
/// processor that starts late still learns the current version.
/// </summary>
public sealed record ModelPublished
{
    [JsonPropertyName("name")] public required string Name { get; init; }
    [JsonPropertyName("version")] public required string Version { get; init; }

    /// <summary>
    /// The bundle folder as the publisher saw it (a shared volume in production), for people reading the topic.
    /// Processors never load from it: they load <see cref="Name"/>/<see cref="Version"/> from their own registry root.
    /// </summary>
    [JsonPropertyName("path")] public required string Path { get; init; }

    /// <summary>File name → sha256 of every file of the bundle, as in its manifest.</summary>
    [JsonPropertyName("sha256")] public required IReadOnlyDictionary<string, string> Sha256 { get; init; }

    [JsonPropertyName("metrics")] public IReadOnlyDictionary<string, IReadOnlyDictionary<string, double>> Metrics { get; init; }
        = new Dictionary<string, IReadOnlyDictionary<string, double>>();

    [JsonPropertyName("parentVersion")] public string? ParentVersion { get; init; }

    /// <summary>Label-topic offsets the version was trained from (<c>topic/partition</c> → next offset), when trained from Kafka.</summary>
    [JsonPropertyName("labelOffsets")] public IReadOnlyDictionary<string, long> LabelOffsets { get; init; } = new Dictionary<string, long>();

    /// <summary>
    /// Why it was published: <c>trained</c>, <c>promote</c> or <c>rollback</c>. Only <c>promote</c> and <c>rollback</c>
    /// may move a running processor to an older version than it serves.
    /// </summary>
    [JsonPropertyName("reason")] public required string Reason { get; init; }

    [JsonPropertyName("publishedAt")] public required DateTimeOffset PublishedAt { get; init; }
}
