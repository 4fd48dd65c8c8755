using System.Diagnostics.CodeAnalysis;
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

public sealed record SwapOutcome(SwapResult Result, string Bundle, string Version, string Reason, TimeSpan Exchange = default)
{
    /// <summary>For <see cref="SwapResult.Refused"/>: one of <see cref="SwapRefusal"/>'s codes.</summary>
    public string? Refusal { get; init; }
}

/// <summary>
/// Why a model event was refused: the <c>reason</c> label of <c>streambert_model_swaps_refused_total</c>. A fixed set,
/// so an event's own strings never become label values.
/// </summary>
public static class SwapRefusal
{
    /// <summary>Not a readable event: bad JSON, a null or ill-formed field, a key that is not its bundle name.</summary>
    public const string Malformed = "malformed";

    /// <summary>The version is not in this host's registry (the event's own path is never used).</summary>
    public const string Missing = "missing";

    /// <summary>The version folder or a file its manifest names leads outside the registry or the bundle.</summary>
    public const string Path = "path";

    /// <summary>A sha256 differs between the event, the manifest and the files on disk.</summary>
    public const string Hash = "hash";

    /// <summary>Older than the served version, and not announced as a rollback or promote.</summary>
    public const string Downgrade = "downgrade";

    /// <summary>The manifest describes another version, other tasks or labels, another vocabulary, or the warm-up failed.</summary>
    public const string Verification = "verification";

    /// <summary>The graph or a head did not load.</summary>
    public const string Load = "load";

    /// <summary>Anything unexpected while handling the event (the follower logs it and goes on).</summary>
    public const string Error = "error";

    public static readonly IReadOnlyList<string> All = [Malformed, Missing, Path, Hash, Downgrade, Verification, Load, Error];
}

/// <summary>Where the models-topic follower is (<see cref="ModelUpdater.State"/>).</summary>
public enum FollowerState
{
    /// <summary><see cref="ModelUpdater.RunAsync"/> not called (benchmarks, tests that call Apply).</summary>
    NotStarted,

    /// <summary>Reading the topic to its end; the latest event per bundle is applied there.</summary>
    CatchingUp,

    /// <summary>Applying each event as it arrives.</summary>
    Following,

    /// <summary>Ended: cancelled with the service, or its loop returned.</summary>
    Stopped,

    /// <summary>Ended on an exception (a fatal Kafka error): no further version will be swapped in.</summary>
    Faulted,
}

/// <summary>
/// Follows the compacted models topic and hot-swaps the versions it announces. A new version is loaded
/// beside the live one, verified (sha256 of every file against the event and the manifest, same tasks and
/// label sets, same vocabulary, a warm-up batch with sane outputs) and only then made live through
/// <see cref="ModelSlot.Swap"/>. Loading and verifying happen off the engine thread; batches keep running
/// on the old version meanwhile. A version that fails is refused, logged with the reason and counted.
/// Events are untrusted input: every field is checked, bundles load only from this host's registry (never the
/// event's path), and a live event older than the served version is refused unless it is a rollback or promote.
/// Any exception while handling one event refuses that event and the follower goes on; only a fatal Kafka error
/// ends it, and <see cref="FollowerProblem"/> then says so (readiness reports it).
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
    private volatile FollowerState _state;
    private volatile Exception? _fault;
    private volatile Error? _fatalError;
    private Task? _follower;

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

    /// <summary>Where the follower started by <see cref="RunAsync"/> is.</summary>
    public FollowerState State => _state;

    /// <summary>
    /// Why no further version can be swapped in (the follower failed or ended), or null while it runs or was never
    /// started. Readiness reports it: a processor that no longer follows the models topic serves a version for ever.
    /// </summary>
    public string? FollowerProblem => _state switch
    {
        FollowerState.Faulted => $"model follower failed: {_fault?.GetType().Name}: {_fault?.Message}",
        FollowerState.Stopped => "model follower stopped",
        _ when _follower is { IsCompleted: true } follower => follower.Exception is { } ex
            ? $"model follower failed: {ex.InnerException?.Message ?? ex.Message}"
            : "model follower stopped",
        _ => null,
    };

    /// <summary>
    /// Reads <paramref name="topic"/> from the beginning: first to its end, applying only the latest event per bundle
    /// (compaction may not have run yet) even when it is older than what is served (the topic is the record; the
    /// registry's CURRENT only chose the version to start with), then every event as it arrives, until cancelled.
    /// </summary>
    public Task RunAsync(ConsumerConfig consumerConfig, string topic, CancellationToken cancellationToken)
    {
        _state = FollowerState.CatchingUp;
        var follower = Task.Factory.StartNew(() => Supervise(consumerConfig, topic, cancellationToken), cancellationToken, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        _follower = follower;
        return follower;
    }

    /// <summary>
    /// Loads, verifies and swaps in the version <paramref name="published"/> names. Never throws: whatever goes wrong
    /// refuses the event with a <see cref="SwapRefusal"/> code.
    /// </summary>
    /// <param name="catchingUp">
    /// The event is the topic's latest for its bundle, read on start: it wins over CURRENT even when older. Live events
    /// (false) may not go back to an older version unless their reason is <c>rollback</c> or <c>promote</c>.
    /// </param>
    [SuppressMessage("Design", "CA1031:Do not catch general exception types", Justification = "A model event is untrusted input: whatever handling it throws refuses that event (counted, logged) and the served models stay.")]
    public SwapOutcome Apply(ModelPublished published, bool catchingUp = false)
    {
        // Events come from one consumer, but promote-while-starting and tests call this directly: one swap at a time.
        lock (_applying)
        {
            SwapOutcome outcome;
            try
            {
                outcome = ApplyLocked(published, catchingUp);
            }
            catch (Exception ex)
            {
                // Any event, whatever it holds, must not end the follower: refuse it and keep serving.
                outcome = Refused(published, SwapRefusal.Error, $"{ex.GetType().Name}: {ex.Message}");
            }

            Report(outcome);
            return outcome;
        }
    }

    [SuppressMessage("Design", "CA1031:Do not catch general exception types", Justification = "A watcher of outcomes (tests, the demo) must not undo an outcome that already took effect; its failure is logged.")]
    private void Report(SwapOutcome outcome)
    {
        switch (outcome.Result)
        {
            case SwapResult.Swapped:
                _metrics.RecordSwap(outcome.Bundle);
                LogSwapped(_logger, outcome.Bundle, outcome.Version, outcome.Reason, outcome.Exchange.TotalMilliseconds);
                break;
            case SwapResult.Refused:
                // Only a served bundle's name becomes a label value; anything else an event says is not.
                var bundle = _slot.Current.Bundles.ContainsKey(outcome.Bundle) ? outcome.Bundle : "unknown";
                _metrics.RecordRefusedSwap(bundle, outcome.Refusal ?? SwapRefusal.Error);
                LogRefused(_logger, outcome.Bundle, outcome.Version, outcome.Refusal ?? SwapRefusal.Error, outcome.Reason);
                break;
            default:
                LogIgnored(_logger, outcome.Bundle, outcome.Version, outcome.Reason);
                break;
        }

        try
        {
            Handled?.Invoke(outcome);
        }
        catch (Exception ex)
        {
            // A watcher's bug is not the event's fault: the outcome stands.
            LogWatcherFailed(_logger, ex);
        }
    }

    private SwapOutcome ApplyLocked(ModelPublished published, bool catchingUp)
    {
        if (ModelEvents.Validate(published) is { } malformed)
        {
            return Refused(published, SwapRefusal.Malformed, malformed);
        }

        var live = _slot.Current;
        if (!live.Bundles.TryGetValue(published.Name, out var served))
        {
            return new SwapOutcome(SwapResult.Ignored, published.Name, published.Version, "bundle not served by this processor");
        }

        if (served.Version == published.Version)
        {
            return new SwapOutcome(SwapResult.Ignored, published.Name, published.Version, "already serving this version");
        }

        if (!catchingUp && IsOlder(published.Version, served.Version) && published.Reason is not ("rollback" or "promote"))
        {
            return Refused(published, SwapRefusal.Downgrade, $"older than the served {served.Version} and announced as '{published.Reason}', not a rollback or promote");
        }

        var started = Stopwatch.GetTimestamp();
        if (new ModelRegistry(_registryRoot).CheckAnnounced(published, out var directory, out var manifest) is { } problem)
        {
            var code = problem.Fault switch
            {
                BundleFault.Missing => SwapRefusal.Missing,
                BundleFault.Path => SwapRefusal.Path,
                BundleFault.Hash => SwapRefusal.Hash,
                _ => SwapRefusal.Verification,
            };
            return Refused(published, code, problem.Message);
        }

        if (Incompatible(manifest!, served) is { } incompatible)
        {
            return Refused(published, SwapRefusal.Verification, incompatible);
        }

        ModelSet? candidate;
        try
        {
            var directories = new Dictionary<string, string>(live.Directories, StringComparer.Ordinal) { [published.Name] = directory };
            candidate = ModelSet.Load(directories.Values, _settings, reuse: ShareEncoders ? live : null, taskBundles: live.TaskBundles);
        }
        catch (Exception ex) when (ex is IOException or InvalidDataException or UnauthorizedAccessException or System.Text.Json.JsonException
                                       or Microsoft.ML.OnnxRuntime.OnnxRuntimeException or Google.Protobuf.InvalidProtocolBufferException
                                       or ArgumentException or InvalidOperationException or EndOfStreamException)
        {
            return Refused(published, SwapRefusal.Load, $"{ex.GetType().Name}: {ex.Message}");
        }

        try
        {
            if (candidate.VocabSha256 != live.VocabSha256)
            {
                return Refused(published, SwapRefusal.Verification, "its vocabulary differs from the one inputs are tokenized with");
            }

            if (WarmUp(candidate) is { } warmUpProblem)
            {
                return Refused(published, SwapRefusal.Verification, warmUpProblem);
            }

            var loaded = Stopwatch.GetElapsedTime(started);
            var exchange = _slot.Swap(candidate);
            candidate = null;
            var metrics = string.Join(", ", published.Metrics.SelectMany(t => t.Value.Select(m => $"{t.Key}.{m.Key}={m.Value:F4}")));
            var direction = IsOlder(published.Version, served.Version) ? $" (back, {published.Reason})" : "";
            return new SwapOutcome(SwapResult.Swapped, published.Name, published.Version, $"from {served.Version}{direction}, loaded and verified in {loaded.TotalMilliseconds:F0} ms; {metrics}", exchange);
        }
        finally
        {
            candidate?.Dispose();
        }
    }

    private static bool IsOlder(string version, string than) =>
        ModelRegistry.TryParseVersion(version, out var number) && ModelRegistry.TryParseVersion(than, out var served) && number < served;

    /// <summary>A refusal; an event's name and version are shown only when well-formed (they reach logs and watchers).</summary>
    private static SwapOutcome Refused(ModelPublished published, string code, string reason) =>
        new(SwapResult.Refused,
            ModelEvents.IsBundleName(published.Name) ? published.Name : "?",
            ModelEvents.IsVersion(published.Version) ? published.Version : "?",
            reason)
        {
            Refusal = code,
        };

    /// <summary>Same tasks, kinds and label sets as the live version: outputs keep their meaning across a swap.</summary>
    private static string? Incompatible(BundleManifest manifest, BundleManifest served)
    {
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

    private void Supervise(ConsumerConfig config, string topic, CancellationToken cancellationToken)
    {
        try
        {
            Follow(config, topic, cancellationToken);
            _state = FollowerState.Stopped;
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            _state = FollowerState.Stopped;
            throw;
        }
        catch (Exception ex)
        {
            _fault = ex;
            _state = FollowerState.Faulted;
            LogFollowerFailed(_logger, topic, ex);
            throw;
        }
    }

    [SuppressMessage("Design", "CA1031:Do not catch general exception types", Justification = "A model event is untrusted input: whatever handling one record throws refuses that record (counted, logged), not the follower.")]
    private void Follow(ConsumerConfig config, string topic, CancellationToken cancellationToken)
    {
        config.EnableAutoCommit = false;
        config.EnableAutoOffsetStore = false;
        config.EnablePartitionEof = true;
        config.AutoOffsetReset = AutoOffsetReset.Earliest;
        using var consumer = new ConsumerBuilder<string?, byte[]?>(config)
            .SetErrorHandler((_, e) =>
            {
                if (e.IsFatal)
                {
                    _fatalError = e;
                }

                LogClientError(_logger, e.Reason);
            })
            .Build();
        var partitions = WaitForPartitions(config, topic, cancellationToken);
        consumer.Assign(partitions.Select(p => new TopicPartitionOffset(topic, p, Offset.Beginning)));

        // Catch up first: the latest event per bundle, then each event as it comes.
        var latest = new Dictionary<string, ModelPublished>(StringComparer.Ordinal);
        var atEnd = new HashSet<int>();
        var caughtUp = false;
        while (!cancellationToken.IsCancellationRequested)
        {
            if (_fatalError is { } fatal)
            {
                // The client cannot recover; nothing else the follower does can either.
                throw new KafkaException(fatal);
            }

            ConsumeResult<string?, byte[]?>? result;
            try
            {
                result = consumer.Consume(TimeSpan.FromMilliseconds(100));
            }
            catch (ConsumeException ex) when (!ex.Error.IsFatal)
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
                        Apply(pending, catchingUp: true);
                    }

                    latest.Clear();
                    _state = FollowerState.Following;
                    LogFollowing(_logger, topic);
                }

                continue;
            }

            try
            {
                Handle(result, caughtUp ? null : latest);
            }
            catch (Exception ex)
            {
                // Apply never throws; this is the rest of one record's handling. It refuses that record, not the follower.
                RefuseUnread(result.TopicPartitionOffset.ToString(), SwapRefusal.Error, $"{ex.GetType().Name}: {ex.Message}");
            }
        }

        consumer.Close();
    }

    /// <summary>Applies one record, or keeps it as its bundle's latest while catching up (<paramref name="latest"/> not null).</summary>
    private void Handle(ConsumeResult<string?, byte[]?> result, Dictionary<string, ModelPublished>? latest)
    {
        if (result.Message.Value is not { Length: > 0 } value)
        {
            return; // a tombstone: compaction's way to forget a bundle; nothing to serve
        }

        ModelPublished published;
        try
        {
            published = ModelEvents.Parse(value);
        }
        catch (InvalidDataException ex)
        {
            RefuseUnread(result.TopicPartitionOffset.ToString(), SwapRefusal.Malformed, ex.Message);
            return;
        }

        // Compaction keeps one event per key: an event filed under another bundle's key would outlive that bundle's own.
        if (result.Message.Key != published.Name)
        {
            RefuseUnread(result.TopicPartitionOffset.ToString(), SwapRefusal.Malformed, $"key '{result.Message.Key}' is not the bundle name '{published.Name}'");
            return;
        }

        if (latest is null)
        {
            Apply(published);
        }
        else
        {
            latest[published.Name] = published;
        }
    }

    /// <summary>Counts and reports a record that never became an event.</summary>
    private void RefuseUnread(string position, string code, string reason)
    {
        lock (_applying)
        {
            Report(new SwapOutcome(SwapResult.Refused, "?", "?", $"{position}: {reason}") { Refusal = code });
        }
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

    [LoggerMessage(Level = LogLevel.Warning, Message = "Refused model {Bundle} {Version} ({Refusal}): {Reason}; the live version keeps serving")]
    private static partial void LogRefused(ILogger logger, string bundle, string version, string refusal, string reason);

    [LoggerMessage(Level = LogLevel.Critical, Message = "Model follower on {Topic} stopped: no further version will be swapped in")]
    private static partial void LogFollowerFailed(ILogger logger, string topic, Exception exception);

    [LoggerMessage(Level = LogLevel.Error, Message = "A watcher of model events failed")]
    private static partial void LogWatcherFailed(ILogger logger, Exception exception);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Model event {Bundle} {Version} ignored: {Reason}")]
    private static partial void LogIgnored(ILogger logger, string bundle, string version, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "Following model events on {Topic}")]
    private static partial void LogFollowing(ILogger logger, string topic);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Kafka client error (models topic): {Reason}")]
    private static partial void LogClientError(ILogger logger, string reason);
}
