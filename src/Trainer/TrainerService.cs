using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Text;
using Confluent.Kafka;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using StreamBert.Contracts;
using StreamBert.Engine.Models;
using StreamBert.Kafka;
using StreamBert.Processor.Diagnostics;
using StreamBert.Processor.Hosting;
using StreamBert.Training.Data;

namespace StreamBert.Trainer;

/// <summary>
/// The training service: consumes reviewers' labels, keeps every usable one (bad ones go to the labels
/// dead-letter topic with the reason), and when a task has <see cref="TrainerOptions.MinNewLabels"/> new
/// labels or its oldest untrained label is <see cref="TrainerOptions.MaxWait"/> old, retrains from the current
/// version (<see cref="LabelTrainingJob"/>). A candidate that passes the quality gate becomes a new registry
/// version and a <see cref="ModelPublished"/> event on the models topic; then the label offsets it used are
/// committed. On restart the label topics are re-read from the beginning (the training set is every label),
/// and only records past the committed offsets count as new.
/// </summary>
public sealed partial class TrainerService : BackgroundService, IReadinessProbe
{
    public const string MeterName = "StreamBert.Trainer";

    private readonly TrainerOptions _options;
    private readonly TrainerTopics _topics;
    private readonly KafkaClientSettings _kafka;
    private readonly ILogger<TrainerService> _logger;
    private readonly IHostApplicationLifetime _lifetime;
    private readonly Meter _meter = new(MeterName);
    private readonly Counter<long> _labels;
    private readonly Counter<long> _deadLettered;
    private readonly Counter<long> _runs;
    private readonly Histogram<double> _runSeconds;
    private readonly Dictionary<string, TaskLabels> _book = new(StringComparer.Ordinal)
    {
        [TaskNames.Spam] = new(),
        [TaskNames.Claims] = new(),
        [TaskNames.Ner] = new(),
    };

    private readonly TaskCompletionSource _started = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private volatile TrainingOutcome? _lastOutcome;

    public TrainerService(IOptions<TrainerOptions> options, IOptions<TrainerTopics> topics, IOptions<KafkaClientSettings> kafka, ILogger<TrainerService> logger, IHostApplicationLifetime lifetime)
    {
        _options = options.Value;
        _topics = topics.Value;
        _kafka = kafka.Value;
        _logger = logger;
        _lifetime = lifetime;
        _labels = _meter.CreateCounter<long>("streambert_trainer_labels", description: "Label records accepted");
        _deadLettered = _meter.CreateCounter<long>("streambert_trainer_labels_dead_lettered", description: "Label records sent to the labels dead-letter topic");
        _runs = _meter.CreateCounter<long>("streambert_trainer_runs", description: "Training runs by task and result (published, refused, failed, unannounced)");
        _runSeconds = _meter.CreateHistogram("streambert_trainer_run_seconds", unit: "s", description: "Wall time of a training run",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [5, 15, 30, 60, 120, 300, 600, 1800, 3600] });
        _meter.CreateObservableGauge("streambert_trainer_last_f1", ObserveLastScores, description: "F1 of the last run's candidate and of the version it was judged against, per evaluation set");
        _meter.CreateObservableGauge("streambert_trainer_pending_labels", () => _book.Select(b => new Measurement<int>(b.Value.Pending, new KeyValuePair<string, object?>("task", b.Key))), description: "Labels not yet trained on");
    }

    /// <summary>Raised after every run (published or not).</summary>
    public event Action<TrainingOutcome>? RunCompleted;

    /// <summary>Raised while a run starts: task and how many labels it has.</summary>
    public event Action<string, int>? RunStarted;

    /// <summary>Set once the service consumes its topics.</summary>
    public Task Started => _started.Task;

    public TrainingOutcome? LastOutcome => _lastOutcome;

    /// <summary>Labels accepted so far, per task.</summary>
    public IReadOnlyDictionary<string, int> LabelCounts => _book.ToDictionary(b => b.Key, b => b.Value.Count);

    protected override Task ExecuteAsync(CancellationToken stoppingToken) =>
        Task.Factory.StartNew(() =>
        {
            try
            {
                Loop(stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
            }
            catch (Exception ex)
            {
                _started.TrySetException(ex);
                LogFatal(_logger, ex);
                Environment.ExitCode = 1;
                _lifetime.StopApplication();
                throw;
            }
        }, stoppingToken, TaskCreationOptions.LongRunning, TaskScheduler.Default);

    /// <summary>Ready once consuming, with a current version to start runs from.</summary>
    public ReadinessReport Readiness()
    {
        var reasons = new List<string>();
        if (!_started.Task.IsCompletedSuccessfully)
        {
            reasons.Add("not consuming labels yet");
        }

        var registry = new ModelRegistry(_options.Registry);
        var models = registry.Bundles()
            .Select(b => (Bundle: b, Version: registry.CurrentVersion(b)))
            .Where(b => b.Version is not null)
            .ToDictionary(b => b.Bundle, b => b.Version!, StringComparer.Ordinal);
        if (models.Count == 0)
        {
            reasons.Add($"no current model version in {registry.Root}");
        }

        return new ReadinessReport(reasons.Count == 0 ? "ready" : "unready", reasons, models);
    }

    public override void Dispose()
    {
        _meter.Dispose();
        base.Dispose();
    }

    private void Loop(CancellationToken stoppingToken)
    {
        var boundaries = new Dictionary<TopicPartition, long>();
        var seen = new HashSet<TopicPartitionOffset>();
        using var consumer = new ConsumerBuilder<byte[]?, byte[]?>(ConsumerConfig())
            .SetErrorHandler((_, e) => LogClientError(_logger, e.Reason))
            .SetPartitionsAssignedHandler((c, partitions) =>
            {
                // Re-read each partition from its start: every label is training data. Offsets below the committed
                // one were trained on before and do not count towards the next run.
                var committed = c.Committed(partitions, TimeSpan.FromSeconds(10));
                foreach (var tpo in committed)
                {
                    boundaries[tpo.TopicPartition] = tpo.Offset.Value >= 0 ? tpo.Offset.Value : 0;
                }

                return partitions.Select(p => new TopicPartitionOffset(p, Offset.Beginning));
            })
            .Build();
        using var producer = new ProducerBuilder<byte[]?, byte[]?>(ProducerConfig()).Build();
        ReconcileCurrent(stoppingToken);
        var job = new LabelTrainingJob(_options, new LogWriter(_logger));
        var positions = new Dictionary<TopicPartition, long>();
        consumer.Subscribe([_topics.LabelsSpam, _topics.LabelsClaims, _topics.LabelsEntities]);
        LogStarted(_logger, _topics.LabelsSpam, _topics.LabelsClaims, _topics.LabelsEntities);
        _started.TrySetResult();

        while (!stoppingToken.IsCancellationRequested)
        {
            ConsumeResult<byte[]?, byte[]?>? record = null;
            try
            {
                record = consumer.Consume(TimeSpan.FromMilliseconds(200));
            }
            catch (ConsumeException ex)
            {
                LogClientError(_logger, ex.Error.Reason);
            }

            if (record?.Message is not null && seen.Add(record.TopicPartitionOffset))
            {
                Accept(record, boundaries, producer);
                positions[record.TopicPartition] = record.Offset.Value + 1;
            }

            foreach (var (task, labels) in _book)
            {
                if (labels.Pending > 0 && (labels.Pending >= _options.MinNewLabels || labels.PendingSince!.Elapsed >= _options.MaxWait))
                {
                    Train(task, labels, job, consumer, producer, positions, stoppingToken);
                }
            }
        }

        producer.Flush(TimeSpan.FromSeconds(10));
        consumer.Close();
    }

    private void Accept(ConsumeResult<byte[]?, byte[]?> record, Dictionary<TopicPartition, long> boundaries, IProducer<byte[]?, byte[]?> producer)
    {
        var task = _topics.TaskOf(record.Topic)!;
        var parsed = LabelParser.Parse(task, record.Message.Value ?? [], _options.MaxLabelBytes);
        if (parsed.Error is { } error)
        {
            var headers = new Headers { { Topics.ErrorHeader, Encoding.UTF8.GetBytes($"{record.Topic}: {error}") } };
            producer.Produce(_topics.LabelsDlq, new Message<byte[]?, byte[]?> { Key = record.Message.Key, Value = record.Message.Value, Headers = headers }, report =>
            {
                if (report.Error.IsError)
                {
                    LogDeadLetterFailed(_logger, record.TopicPartitionOffset.ToString(), report.Error.Reason);
                }
            });
            _deadLettered.Add(1, new KeyValuePair<string, object?>("topic", record.Topic));
            LogRejected(_logger, record.TopicPartitionOffset.ToString(), error);
            return;
        }

        var isNew = record.Offset.Value >= boundaries.GetValueOrDefault(record.TopicPartition);
        _book[task].Add(parsed, isNew);
        _labels.Add(1, new KeyValuePair<string, object?>("topic", record.Topic));
    }

    private void Train(string task, TaskLabels labels, LabelTrainingJob job, IConsumer<byte[]?, byte[]?> consumer, IProducer<byte[]?, byte[]?> producer, Dictionary<TopicPartition, long> positions, CancellationToken stoppingToken)
    {
        var topic = task switch { TaskNames.Spam => _topics.LabelsSpam, TaskNames.Claims => _topics.LabelsClaims, _ => _topics.LabelsEntities };
        var offsets = positions.Where(p => p.Key.Topic == topic).ToDictionary(p => p.Key, p => p.Value);
        var labelOffsets = offsets.ToDictionary(o => $"{o.Key.Topic}/{o.Key.Partition.Value}", o => o.Value);
        LogRunStarting(_logger, task, labels.Count, labels.Pending);
        RunStarted?.Invoke(task, labels.Count);
        var clock = Stopwatch.StartNew();
        TrainingOutcome outcome;
        try
        {
            outcome = job.Run(task, labels.Texts, labels.Sentences, labelOffsets, stoppingToken);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            LogRunFailed(_logger, task, ex);
            _runs.Add(1, new("task", task), new("result", "failed"));
            labels.RetryLater();
            return;
        }

        _runSeconds.Record(clock.Elapsed.TotalSeconds, new KeyValuePair<string, object?>("task", task));
        if (outcome.Published is { } manifest)
        {
            // Event first, then CURRENT: a version the topic never announced must not become the registry's current one.
            try
            {
                var registry = new ModelRegistry(_options.Registry);
                var published = registry.EventFor(manifest.Name, manifest.Version, "trained") with { LabelOffsets = labelOffsets };
                ModelEvents.PublishThenMarkCurrentAsync(ProducerConfig(), _topics.Models, published, registry.SetCurrent, stoppingToken).GetAwaiter().GetResult();
                _runs.Add(1, new("task", task), new("result", "published"));
                LogPublished(_logger, manifest.Name, manifest.Version, outcome.Reason, Scores(outcome));
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                // The version stays in the registry, neither current nor announced; the labels count as new until a run publishes.
                LogAnnounceFailed(_logger, manifest.Name, manifest.Version, ex);
                _runs.Add(1, new("task", task), new("result", "unannounced"));
                labels.RetryLater();
                var unannounced = outcome with { Published = null, Reason = $"not announced on {_topics.Models}: {ex.Message}" };
                _lastOutcome = unannounced;
                RunCompleted?.Invoke(unannounced);
                return;
            }
        }
        else
        {
            _runs.Add(1, new("task", task), new("result", "refused"));
            LogRefused(_logger, task, outcome.Reason, Scores(outcome));
        }

        // The run used these labels either way; the position moves on so a restart does not count them again.
        if (offsets.Count > 0)
        {
            consumer.Commit(offsets.Select(o => new TopicPartitionOffset(o.Key, o.Value)));
        }

        labels.MarkTrained();
        _lastOutcome = outcome;
        RunCompleted?.Invoke(outcome);
    }

    /// <summary>
    /// On start, the models topic wins over the registry's CURRENT: its latest event per bundle is the version processors
    /// serve (they apply it on catch-up), so CURRENT follows it when it names a version in this registry whose files match
    /// the event. Repairs a crash between publishing and marking current, and a CURRENT edited by hand. A topic that
    /// cannot be read leaves CURRENT as it is; the next published version brings the two together again.
    /// </summary>
    private void ReconcileCurrent(CancellationToken stoppingToken)
    {
        ModelEvents.LatestEvents events;
        try
        {
            events = ModelEvents.ReadLatest(ConsumerConfig(), _topics.Models, TimeSpan.FromSeconds(30), stoppingToken);
        }
        catch (Exception ex) when (ex is KafkaException or TimeoutException)
        {
            LogReconcileSkipped(_logger, _topics.Models, ex.Message);
            return;
        }

        if (events.Unreadable > 0)
        {
            LogReconcileUnreadable(_logger, _topics.Models, events.Unreadable);
        }

        var registry = new ModelRegistry(_options.Registry);
        foreach (var (bundle, published) in events.Latest)
        {
            var current = registry.CurrentVersion(bundle);
            if (current == published.Version)
            {
                continue;
            }

            if (registry.CheckAnnounced(published, out _, out _) is { } problem)
            {
                LogReconcileRefused(_logger, bundle, published.Version, current ?? "none", problem.Message);
                continue;
            }

            registry.SetCurrent(bundle, published.Version);
            LogReconciled(_logger, bundle, current ?? "none", published.Version, published.Reason);
        }
    }

    private static string Scores(TrainingOutcome outcome) =>
        string.Join("; ", outcome.Scores.Select(s => FormattableString.Invariant($"{s.Set} {s.Current:F4} → {s.Candidate:F4}")));

    private IEnumerable<Measurement<double>> ObserveLastScores()
    {
        if (_lastOutcome is not { } outcome)
        {
            yield break;
        }

        foreach (var score in outcome.Scores)
        {
            yield return new Measurement<double>(score.Candidate, new("task", outcome.Task), new("set", score.Set), new("model", "candidate"));
            yield return new Measurement<double>(score.Current, new("task", outcome.Task), new("set", score.Set), new("model", "current"));
        }
    }

    private ConsumerConfig ConsumerConfig()
    {
        var config = new ConsumerConfig(new Dictionary<string, string>(_kafka.Consumer))
        {
            BootstrapServers = _kafka.Consumer.GetValueOrDefault("bootstrap.servers") ?? _options.BootstrapServers,
            GroupId = _kafka.Consumer.GetValueOrDefault("group.id") ?? _options.GroupId,
            EnableAutoCommit = false,
            AutoOffsetReset = AutoOffsetReset.Earliest,
            GroupProtocol = GroupProtocol.Classic,
            // A run holds the poll loop for minutes; the group must not evict the trainer meanwhile.
            MaxPollIntervalMs = 86_400_000,
        };
        return config;
    }

    private ProducerConfig ProducerConfig()
    {
        var config = new ProducerConfig(new Dictionary<string, string>(_kafka.Producer))
        {
            BootstrapServers = _kafka.Producer.GetValueOrDefault("bootstrap.servers") ?? _options.BootstrapServers,
            EnableIdempotence = true,
            Acks = Acks.All,
        };
        return config;
    }

    /// <summary>The labels of one task: all of them (the training set) and the ones not trained on yet.</summary>
    private sealed class TaskLabels
    {
        private readonly List<LabeledText> _texts = [];
        private readonly List<NerSentence> _sentences = [];
        private int _pending;

        public IReadOnlyList<LabeledText> Texts => _texts;
        public IReadOnlyList<NerSentence> Sentences => _sentences;
        public int Count => _texts.Count + _sentences.Count;
        public int Pending => _pending;
        public Stopwatch? PendingSince { get; private set; }

        public void Add(ParsedLabel label, bool isNew)
        {
            if (label.Text is { } text)
            {
                _texts.Add(text);
            }
            else if (label.Sentence is { } sentence)
            {
                _sentences.Add(sentence);
            }

            if (isNew)
            {
                _pending++;
                PendingSince ??= Stopwatch.StartNew();
            }
        }

        public void MarkTrained()
        {
            _pending = 0;
            PendingSince = null;
        }

        /// <summary>After a failed run: try again once <see cref="TrainerOptions.MaxWait"/> has passed, not at once.</summary>
        public void RetryLater() => PendingSince = Stopwatch.StartNew();
    }

    /// <summary>Training progress lines into the log.</summary>
    private sealed class LogWriter(ILogger logger) : TextWriter
    {
        public override Encoding Encoding => Encoding.UTF8;

        public override void WriteLine(string? value)
        {
            if (!string.IsNullOrEmpty(value))
            {
                LogProgress(logger, value);
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Trainer consuming {Spam}, {Claims}, {Entities}")]
    private static partial void LogStarted(ILogger logger, string spam, string claims, string entities);

    [LoggerMessage(Level = LogLevel.Information, Message = "Training run for {Task}: {Labels} labels, {Pending} new")]
    private static partial void LogRunStarting(ILogger logger, string task, int labels, int pending);

    [LoggerMessage(Level = LogLevel.Information, Message = "Published {Bundle} {Version}: {Reason} ({Scores})")]
    private static partial void LogPublished(ILogger logger, string bundle, string version, string reason, string scores);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Candidate for {Task} not published: {Reason} ({Scores})")]
    private static partial void LogRefused(ILogger logger, string task, string reason, string scores);

    [LoggerMessage(Level = LogLevel.Error, Message = "Training run for {Task} failed; retrying after the maximum wait")]
    private static partial void LogRunFailed(ILogger logger, string task, Exception exception);

    [LoggerMessage(Level = LogLevel.Information, Message = "{Line}")]
    private static partial void LogProgress(ILogger logger, string line);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Label record {Position} dead-lettered: {Reason}")]
    private static partial void LogRejected(ILogger logger, string position, string reason);

    [LoggerMessage(Level = LogLevel.Error, Message = "Dead-lettering label record {Position} failed: {Reason}")]
    private static partial void LogDeadLetterFailed(ILogger logger, string position, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Kafka client error: {Reason}")]
    private static partial void LogClientError(ILogger logger, string reason);

    [LoggerMessage(Level = LogLevel.Error, Message = "Publishing {Bundle} {Version} on the models topic failed; CURRENT unchanged, the labels are retried after the maximum wait")]
    private static partial void LogAnnounceFailed(ILogger logger, string bundle, string version, Exception exception);

    [LoggerMessage(Level = LogLevel.Warning, Message = "CURRENT of {Bundle} set from {From} to {To}: the latest event on the models topic ({Reason}) wins")]
    private static partial void LogReconciled(ILogger logger, string bundle, string from, string to, string reason);

    [LoggerMessage(Level = LogLevel.Error, Message = "The models topic names {Bundle} {Version}, CURRENT stays {Current}: {Problem}")]
    private static partial void LogReconcileRefused(ILogger logger, string bundle, string version, string current, string problem);

    [LoggerMessage(Level = LogLevel.Warning, Message = "CURRENT not reconciled with {Topic}: {Reason}")]
    private static partial void LogReconcileSkipped(ILogger logger, string topic, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Count} unreadable events on {Topic} ignored while reconciling CURRENT")]
    private static partial void LogReconcileUnreadable(ILogger logger, string topic, int count);

    [LoggerMessage(Level = LogLevel.Critical, Message = "Trainer stopping on a fatal error")]
    private static partial void LogFatal(ILogger logger, Exception exception);
}
