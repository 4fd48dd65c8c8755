using Confluent.Kafka;
using StreamBert.Engine.Models;

namespace StreamBert.Kafka;

/// <summary>A change of the version a bundle serves, decided but not yet applied.</summary>
/// <param name="From">The version CURRENT named when the change was planned (null: none).</param>
/// <param name="Reason"><see cref="ModelPromotion.Promote"/> or <see cref="ModelPromotion.Rollback"/>, as the event's reason.</param>
public sealed record ModelChange(string Bundle, string? From, string Version, string Reason);

/// <summary>
/// Promote and rollback, the one path for both <c>streambert models promote|rollback</c> and the reviewer's desk:
/// <see cref="Plan"/> checks the registry and decides the version, <see cref="PublishAsync"/> publishes the
/// <c>ModelPublished</c> event and only then moves CURRENT (the topic is what processors follow; a registry ahead of
/// it would serve a version the topic then swaps back).
/// </summary>
public static class ModelPromotion
{
    public const string Promote = "promote";
    public const string Rollback = "rollback";

    /// <summary>
    /// The change <paramref name="reason"/> makes to <paramref name="bundle"/>: promote to <paramref name="version"/>, or
    /// roll back to the version before the current one (<paramref name="version"/> ignored). Throws
    /// <see cref="InvalidOperationException"/> with a message for people when the registry does not allow it.
    /// </summary>
    public static ModelChange Plan(ModelRegistry registry, string reason, string bundle, string? version = null)
    {
        // Versions and CurrentVersion know no bundle whose name is not a plain one: such a name is refused below.
        var current = registry.CurrentVersion(bundle);
        switch (reason)
        {
            case Promote:
                if (version is null || !registry.Versions(bundle).Contains(version, StringComparer.Ordinal))
                {
                    throw new InvalidOperationException($"{bundle} {version} is not in the registry {registry.Root} (streambert models list shows what is).");
                }

                return new ModelChange(bundle, current, version, Promote);
            case Rollback:
                if (current is null)
                {
                    throw new InvalidOperationException($"{bundle} has no current version in the registry {registry.Root} (streambert models list shows what is).");
                }

                return new ModelChange(bundle, current, registry.PreviousVersion(bundle), Rollback);
            default:
                throw new ArgumentException($"'{reason}' is neither {Promote} nor {Rollback}.", nameof(reason));
        }
    }

    /// <summary>
    /// Event first, then CURRENT: publishes the change on <paramref name="topic"/> and, once the broker acknowledged it,
    /// marks the version current. A failed send throws and leaves CURRENT as it was.
    /// </summary>
    public static Task<TopicPartitionOffset> PublishAsync(ModelRegistry registry, ModelChange change, ProducerConfig config, string topic, CancellationToken cancellationToken) =>
        ModelEvents.PublishThenMarkCurrentAsync(config, topic, registry.EventFor(change.Bundle, change.Version, change.Reason), registry.SetCurrent, cancellationToken);

    /// <summary>CURRENT alone, nothing published: running processors keep what the models topic says (<c>--registry-only</c>).</summary>
    public static void MarkCurrentOnly(ModelRegistry registry, ModelChange change) => registry.SetCurrent(change.Bundle, change.Version);
}
