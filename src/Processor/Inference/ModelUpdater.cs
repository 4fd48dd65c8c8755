using System.Diagnostics;
using Confluent.Kafka;
using Microsoft.Extensions.Logging;
using StreamBert.Contracts;
using StreamBert.Engine.Inference;
using StreamBert.Engine.Models;
using StreamBert.Engine.Tokenization;
using StreamBert.Kafka;
using StreamBert.Processor.Diagnostics;

namespace StreamBert.Processor.Inference;

/// <summary>What became of one <see cref="ModelPublished"/> event.</summary>
public enum SwapResult
{
    /// <summary>The version is live.</summary>
    Swapped,

    /// <summary>The version failed verification; the previous one keeps serving.</summary>
    Refused,

    /// <summary>Nothing to do: a bundle this processor does not serve, or the version it already serves.</summary>
    Ignored,
}

public sealed record SwapOutcome(SwapResult Result, string Bundle, string Version, string Reason, TimeSpan Exchange = default);

/// <summary>
/// Follows the compacted models topic and hot-swaps the versions it announces. A new version is loaded
/// beside the live one, verified (sha256 of every file against the event and the manifest, same tasks and
/// label sets, same vocabulary, a warm-up batch with sane outputs) and only then made live through
/// <see cref="ModelSlot.Swap"/>. Loading and verifying happen off the engine thread; batches keep running
/// on the old version meanwhile. A version that fails is refused, logged with the reason and counted.
/// </summary>
public sealed partial class ModelUpdater
{
    /// <summary>Texts for the warm-up batch: short, long, mixed scripts, so a broken graph shows before it serves.</summary>
    private static readonly string[] WarmUpTexts =
    [
        "WINNER!! Claim your free prize now, call 09061701461.",
        "Are we still meeting for lunch tomorrow at noon?",
        "The unemployment rate fell to 3.5 percent last year, the lowest in half a century, Senator Warren said in Boston.",
        "Café Zürich — 東京 — naïve résumé 🎉",
    ];

    private readonly ModelSlot _slot;
    private readonly string _registryRoot;
    private readonly SessionSettings _settings;
    private readonly ProcessorMetrics _metrics;
    private readonly ILogger _logger;
    private readonly Lock _applying = new();

    public ModelUpdater(ModelSlot slot, string registryRoot, SessionSettings settings, ProcessorMetrics metrics, ILogger logger)
    {
        _slot = slot;
        _registryRoot = registryRoot;
        _settings = settings;
        _metrics = metrics;
        _logger = logger;
    }

    /// <summary>
    /// Share encoder sessions with the live set where the graph is the same (default). Off, every version loads
    /// its own session, as a fine-tuned version with its own graph does; the swap benchmark measures both.
    /// </summary>
    public bool ShareEncoders { get; init; } = true;

    /// <summary>Raised after each event is handled (tests and the demo watch it).</summary>
    public event Action<SwapOutcome>? Handled;

    /// <summary>
    /// Reads <paramref name="topic"/> from the beginning: first to its end, applying only the latest event per
    /// bundle (compaction may not have run yet), then every event as it arrives, until cancelled.
    /// </summary>
    public Task RunAsync(ConsumerConfig consumerConfig, string topic, CancellationToken cancellationToken) =>
        Task.Factory.StartNew(() => Follow(consumerConfig, topic, cancellationToken), cancellationToken, TaskCreationOptions.LongRunning, TaskScheduler.Default);

    /// <summary>Loads, verifies and swaps in the version <paramref name="published"/> names.</summary>
    public SwapOutcome Apply(ModelPublished published)
    {
        // Events come from one consumer, but promote-while-starting and tests call this directly: one swap at a time.
        lock (_applying)
        {
            var outcome = ApplyLocked(published);
            switch (outcome.Result)
            {
                case SwapResult.Swapped:
                    _metrics.RecordSwap(outcome.Bundle);
                    LogSwapped(_logger, outcome.Bundle, outcome.Version, outcome.Reason, outcome.Exchange.TotalMilliseconds);
                    break;
                case SwapResult.Refused:
                    _metrics.RecordRefusedSwap(outcome.Bundle);
                    LogRefused(_logger, outcome.Bundle, outcome.Version, outcome.Reason);
                    break;
                default:
                    LogIgnored(_logger, outcome.Bundle, outcome.Version, outcome.Reason);
                    break;
            }

            Handled?.Invoke(outcome);
            return outcome;
        }
    }

    private SwapOutcome ApplyLocked(ModelPublished published)
    {
        var live = _slot.Current;
        if (!live.Bundles.TryGetValue(published.Name, out var served))
        {
            return new SwapOutcome(SwapResult.Ignored, published.Name, published.Version, "bundle not served by this processor");
        }

        if (served.Version == published.Version)
        {
            return new SwapOutcome(SwapResult.Ignored, published.Name, published.Version, "already serving this version");
        }

        var started = Stopwatch.GetTimestamp();
        ModelSet? candidate = null;
        try
        {
            var directory = Resolve(published);
            if (Check(published, directory, served) is { } problem)
            {
                return Refused(published, problem);
            }

            var directories = new Dictionary<string, string>(live.Directories, StringComparer.Ordinal) { [published.Name] = directory };
            candidate = ModelSet.Load(directories.Values, _settings, reuse: ShareEncoders ? live : null, taskBundles: live.TaskBundles);
            if (candidate.VocabSha256 != live.VocabSha256)
            {
                return Refused(published, "its vocabulary differs from the one inputs are tokenized with");
            }

            if (WarmUp(candidate) is { } warmUpProblem)
            {
                return Refused(published, warmUpProblem);
            }

            var loaded = Stopwatch.GetElapsedTime(started);
            var exchange = _slot.Swap(candidate);
            candidate = null;
            var metrics = string.Join(", ", published.Metrics.SelectMany(t => t.Value.Select(m => $"{t.Key}.{m.Key}={m.Value:F4}")));
            return new SwapOutcome(SwapResult.Swapped, published.Name, published.Version, $"from {served.Version}, loaded and verified in {loaded.TotalMilliseconds:F0} ms; {metrics}", exchange);
        }
        catch (Exception ex) when (ex is IOException or InvalidDataException or UnauthorizedAccessException or System.Text.Json.JsonException
                                       or Microsoft.ML.OnnxRuntime.OnnxRuntimeException or Google.Protobuf.InvalidProtocolBufferException
                                       or ArgumentException or InvalidOperationException or EndOfStreamException)
        {
            return Refused(published, $"{ex.GetType().Name}: {ex.Message}");
        }
        finally
        {
            candidate?.Dispose();
        }
    }

    private static SwapOutcome Refused(ModelPublished published, string reason) =>
        new(SwapResult.Refused, published.Name, published.Version, reason);

    /// <summary>The event's path is where the publisher saw the bundle; this host may mount the registry elsewhere.</summary>
    private string Resolve(ModelPublished published)
    {
        if (!ModelRegistry.TryParseVersion(published.Version, out _) || published.Name.IndexOfAny(['/', '\\']) >= 0 || published.Name is "." or "..")
        {
            throw new InvalidDataException($"'{published.Name}' '{published.Version}' is not a bundle name and version");
        }

        var local = new ModelRegistry(_registryRoot).BundleDirectory(published.Name, published.Version);
        if (Directory.Exists(local))
        {
            return local;
        }

        if (published.Path.Length > 0 && Directory.Exists(published.Path))
        {
            return published.Path;
        }

        throw new DirectoryNotFoundException($"neither {local} nor {published.Path} exists");
    }

    private static string? Check(ModelPublished published, string directory, BundleManifest served)
    {
        var manifest = ModelRegistry.ReadManifest(directory);
        if (manifest.Name != published.Name || manifest.Version != published.Version)
        {
            return $"the manifest in {directory} is {manifest.Name} {manifest.Version}";
        }

        if (published.Sha256.Count == 0)
        {
            return "the event carries no sha256";
        }

        foreach (var (file, sha) in manifest.Files)
        {
            if (!published.Sha256.TryGetValue(file, out var announced) || !string.Equals(announced, sha, StringComparison.OrdinalIgnoreCase))
            {
                return $"{file}: the manifest's sha256 differs from the event's";
            }
        }

        if (published.Sha256.Keys.FirstOrDefault(f => !manifest.Files.ContainsKey(f)) is { } extra)
        {
            return $"{extra}: announced by the event, absent from the manifest";
        }

        if (ModelRegistry.Verify(directory) is { } problem)
        {
            return problem;
        }

        if (!manifest.Heads.Keys.Order(StringComparer.Ordinal).SequenceEqual(served.Heads.Keys.Order(StringComparer.Ordinal)))
        {
            return $"it serves tasks {string.Join(",", manifest.Heads.Keys)}, the live version {string.Join(",", served.Heads.Keys)}";
        }

        foreach (var (task, head) in manifest.Heads)
        {
            var live = served.Heads[task];
            if (head.Kind != live.Kind || !head.Labels.SequenceEqual(live.Labels))
            {
                return $"head {task} is {head.Kind} [{string.Join(",", head.Labels)}], the live one {live.Kind} [{string.Join(",", live.Labels)}]";
            }
        }

        return null;
    }

    /// <summary>Runs a few real sequences through every head; a graph that loads but computes garbage stops here.</summary>
    private static string? WarmUp(ModelSet models)
    {
        var batch = new List<SequenceWork>();
        var tokens = new List<Token>();
        foreach (var text in WarmUpTexts)
        {
            tokens.Clear();
            models.Tokenizer.Tokenize(text, tokens);
            var ids = TokenWindows.Ids(tokens, 0, Math.Min(tokens.Count, 126), models.Tokenizer);
            if (models.Head(TaskNames.Spam) is not null)
            {
                batch.Add(new SequenceWork { Ids = ids, Tasks = TaskSet.Spam });
            }

            var articleTasks = (models.Head(TaskNames.Claims) is null ? TaskSet.None : TaskSet.Claims) | (models.Head(TaskNames.Ner) is null ? TaskSet.None : TaskSet.Ner);
            if (articleTasks != TaskSet.None)
            {
                batch.Add(new SequenceWork { Ids = ids, Tasks = articleTasks, WordShapes = WordShape.ForSequence(text, tokens, 0, Math.Min(tokens.Count, 126)) });
            }
        }

        models.Run(batch);
        foreach (var work in batch)
        {
            if ((work.Tasks & TaskSet.Spam) != 0 && !IsProbability(work.SpamScore))
            {
                return $"warm-up: spam score {work.SpamScore}";
            }

            if ((work.Tasks & TaskSet.Claims) != 0 && !IsProbability(work.ClaimScore))
            {
                return $"warm-up: claim score {work.ClaimScore}";
            }

            if ((work.Tasks & TaskSet.Ner) != 0 && (work.TagProbabilities is not { } tags || !tags.All(IsProbability)))
            {
                return "warm-up: tag probabilities are not probabilities";
            }
        }

        return null;
    }

    private static bool IsProbability(float value) => float.IsFinite(value) && value is >= 0f and <= 1f;

    private void Follow(ConsumerConfig config, string topic, CancellationToken cancellationToken)
    {
        config.EnableAutoCommit = false;
        config.EnableAutoOffsetStore = false;
        config.EnablePartitionEof = true;
        config.AutoOffsetReset = AutoOffsetReset.Earliest;
        using var consumer = new ConsumerBuilder<string?, byte[]?>(config)
            .SetErrorHandler((_, e) => LogClientError(_logger, e.Reason))
            .Build();
        var partitions = WaitForPartitions(config, topic, cancellationToken);
        consumer.Assign(partitions.Select(p => new TopicPartitionOffset(topic, p, Offset.Beginning)));

        // Catch up first: the latest event per bundle, then each event as it comes.
        var latest = new Dictionary<string, ModelPublished>(StringComparer.Ordinal);
        var atEnd = new HashSet<int>();
        var caughtUp = false;
        while (!cancellationToken.IsCancellationRequested)
        {
            ConsumeResult<string?, byte[]?>? result;
            try
            {
                result = consumer.Consume(TimeSpan.FromMilliseconds(100));
            }
            catch (ConsumeException ex)
            {
                LogClientError(_logger, ex.Error.Reason);
                continue;
            }

            if (result is null)
            {
                continue;
            }

            if (result.IsPartitionEOF)
            {
                atEnd.Add(result.Partition.Value);
                if (!caughtUp && atEnd.Count == partitions.Count)
                {
                    caughtUp = true;
                    foreach (var pending in latest.Values)
                    {
                        Apply(pending);
                    }

                    latest.Clear();
                    LogFollowing(_logger, topic);
                }

                continue;
            }

            if (result.Message.Value is not { Length: > 0 } value)
            {
                continue; // a tombstone: compaction's way to forget a bundle; nothing to serve
            }

            ModelPublished published;
            try
            {
                published = ModelEvents.Parse(value);
            }
            catch (Exception ex) when (ex is System.Text.Json.JsonException or InvalidDataException)
            {
                LogBadEvent(_logger, result.TopicPartitionOffset.ToString(), ex.Message);
                continue;
            }

            if (caughtUp)
            {
                Apply(published);
            }
            else
            {
                latest[published.Name] = published;
            }
        }

        consumer.Close();
    }

    private List<int> WaitForPartitions(ConsumerConfig config, string topic, CancellationToken cancellationToken)
    {
        // Only the connection settings: an admin client built from the whole consumer config warns about every consumer property.
        var adminConfig = new AdminClientConfig(config.ToDictionary(p => p.Key, p => p.Value).Where(p => p.Key is "bootstrap.servers" or "client.id"
            || p.Key.StartsWith("security.", StringComparison.Ordinal) || p.Key.StartsWith("sasl.", StringComparison.Ordinal)
            || p.Key.StartsWith("ssl.", StringComparison.Ordinal) || p.Key.StartsWith("socket.", StringComparison.Ordinal)
            || p.Key.StartsWith("reconnect.", StringComparison.Ordinal) || p.Key.StartsWith("broker.", StringComparison.Ordinal))
            .ToDictionary(p => p.Key, p => p.Value));
        using var admin = new AdminClientBuilder(adminConfig).Build();
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            try
            {
                var metadata = admin.GetMetadata(topic, TimeSpan.FromSeconds(5));
                var found = metadata.Topics.SingleOrDefault(t => t.Topic == topic);
                if (found is { Error.IsError: false, Partitions.Count: > 0 })
                {
                    return [.. found.Partitions.Select(p => p.PartitionId)];
                }
            }
            catch (KafkaException ex)
            {
                LogClientError(_logger, ex.Error.Reason);
            }

            cancellationToken.WaitHandle.WaitOne(TimeSpan.FromSeconds(1));
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Hot swap: {Bundle} {Version} is live ({Detail}); exchange took {ExchangeMs:F3} ms")]
    private static partial void LogSwapped(ILogger logger, string bundle, string version, string detail, double exchangeMs);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Refused model {Bundle} {Version}: {Reason}; the live version keeps serving")]
    private static partial void LogRefused(ILogger logger, string bundle, string version, string reason);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Model event {Bundle} {Version} ignored: {Reason}")]
    private static partial void LogIgnored(ILogger logger, string bundle, string version, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "Following model events on {Topic}")]
    private static partial void LogFollowing(ILogger logger, string topic);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Unreadable model event at {Position}: {Reason}")]
    private static partial void LogBadEvent(ILogger logger, string position, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Kafka client error (models topic): {Reason}")]
    private static partial void LogClientError(ILogger logger, string reason);
}
