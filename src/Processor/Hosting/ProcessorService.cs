using System.Threading.Channels;
using Confluent.Kafka;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using StreamBert.Engine.Inference;
using StreamBert.Processor.Batching;
using StreamBert.Processor.Diagnostics;
using StreamBert.Processor.Egress;
using StreamBert.Processor.Inference;
using StreamBert.Processor.Ingest;
using StreamBert.Processor.Postprocess;
using StreamBert.Processor.Preprocess;

namespace StreamBert.Processor.Hosting;

/// <summary>
/// Wires the stages of DESIGN.md with bounded channels:
/// Ingest → Preprocess → Batching → Inference (engine thread) → Postprocess → Egress.
/// Stopping drains the stages in order, delivers every output and commits the finished offsets.
/// A stage that fails completes its channel with the exception and the host stops.
/// </summary>
public sealed partial class ProcessorService : BackgroundService
{
    private readonly ProcessorOptions _options;
    private readonly TopicNames _topics;
    private readonly KafkaClientSettings _kafka;
    private readonly ProcessorMetrics _metrics;
    private readonly IHostApplicationLifetime _lifetime;
    private readonly ILogger<ProcessorService> _logger;
    private ServingPlan? _plan;
    private ModelSlot? _slot;

    public ProcessorService(IOptions<ProcessorOptions> options, IOptions<TopicNames> topics, IOptions<KafkaClientSettings> kafka, ProcessorMetrics metrics, IHostApplicationLifetime lifetime, ILogger<ProcessorService> logger)
    {
        _options = options.Value;
        _topics = topics.Value;
        _kafka = kafka.Value;
        _metrics = metrics;
        _lifetime = lifetime;
        _logger = logger;
    }

    /// <summary>The models being served now, once started (a hot swap replaces them).</summary>
    public ModelSet? Models => _slot?.Current;

    /// <summary>The slot the engine reads the models through, once started.</summary>
    public ModelSlot? Slot => _slot;

    /// <summary>Applies model events, once started.</summary>
    public ModelUpdater? Updater { get; private set; }

    /// <summary>Raised on the engine thread as each batch starts, with the generation of the models it runs on.</summary>
    public event Action<long, ModelSet, SequenceBatch>? BatchStarted;

    /// <summary>Set when the service has subscribed and is consuming.</summary>
    public Task Started => _started.Task;

    private readonly TaskCompletionSource _started = new(TaskCreationOptions.RunContinuationsAsynchronously);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        await Task.Yield();
        try
        {
            _plan = ModelLoader.Load(_options, _topics);
        }
        catch (Exception ex)
        {
            _started.TrySetException(ex);
            LogFatal(_logger, ex);
            Environment.ExitCode = 1;
            _lifetime.StopApplication();
            throw;
        }

        var models = _plan.Models;
        using var slot = new ModelSlot(models);
        _slot = slot;
        foreach (var (name, manifest) in models.Bundles)
        {
            LogServing(_logger, name, manifest.Version, string.Join(",", manifest.Heads.Keys));
        }

        LogDevice(_logger, models.Device.Provider, models.Device.Reason);

        var tracker = new OffsetTracker();
        using var consumer = KafkaIngest.WithRebalanceHandlers(
                new ConsumerBuilder<byte[]?, byte[]?>(_kafka.ConsumerConfig(_options)), tracker, _logger)
            .SetErrorHandler((_, e) => OnClientError(e))
            .Build();
        var producerConfig = _kafka.ProducerConfig(_options);
        using var producer = new ProducerBuilder<byte[]?, byte[]>(producerConfig)
            .SetErrorHandler((_, e) => OnClientError(e))
            .Build();

        var capacity = _options.ChannelCapacity;
        var records = Bounded<InputRecord>(capacity);
        var sequences = Bounded<SequenceWork>(capacity * 4);
        var batches = Bounded<SequenceBatch>(1);
        var documents = Bounded<Document>(capacity);
        var outputs = Bounded<OutputSet>(capacity);

        // The pipeline keeps running after stoppingToken fires: it drains what was consumed, then ends.
        using var abort = new CancellationTokenSource();
        void Fatal(Exception ex)
        {
            LogFatal(_logger, ex);
            Environment.ExitCode = 1;
            abort.Cancel();
            _lifetime.StopApplication();
        }

        var preprocessor = new Preprocessor(_options, _topics);
        var deadLetters = new DeadLetters(_topics, producerConfig.MessageMaxBytes ?? DeadLetters.DefaultMessageMaxBytes);
        var postprocessor = new Postprocessor(_options, _topics, deadLetters);
        var batcher = new TokenBudgetBatcher(new BatchingLimits(_options.MaxBatchTokens, _options.MaxBatchDelay, _options.MaxBatchSequences));
        var engine = new EngineWorker(slot, _metrics);
        engine.BatchStarted += (generation, set, batch) => BatchStarted?.Invoke(generation, set, batch);
        var updater = new ModelUpdater(slot, _options.Registry, _plan.Settings, _metrics, _logger);
        Updater = updater;
        var egress = new KafkaEgress(producer, tracker, _metrics, _logger, Fatal, deadLetters);
        var ingest = new KafkaIngest(consumer, tracker, _metrics, _logger);

        var preprocessTask = Task.Run(() => PreprocessAsync(records.Reader, sequences.Writer, outputs.Writer, preprocessor, postprocessor, slot, abort.Token), CancellationToken.None);
        var batchTask = Task.Run(() => batcher.RunAsync(sequences.Reader, batches.Writer, abort.Token), CancellationToken.None);
        var engineTask = engine.RunAsync(batches.Reader, documents.Writer, abort.Token);
        var postprocessTask = Task.Run(() => PostprocessAsync(documents.Reader, outputs.Writer, postprocessor, abort.Token), CancellationToken.None);
        var egressTask = Task.Run(() => egress.RunAsync(outputs.Reader, abort.Token), CancellationToken.None);
        var pipeline = Task.WhenAll(preprocessTask, batchTask, engineTask, postprocessTask, egressTask);
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken, abort.Token);
        var ingestTask = ingest.RunAsync(_plan.Topics, records.Writer, pipeline, stop.Token);
        using var stopUpdates = CancellationTokenSource.CreateLinkedTokenSource(stop.Token);
        var updatesTask = updater.RunAsync(_kafka.ConsumerConfig(_options), _topics.Models, stopUpdates.Token);
        LogStarted(_logger, string.Join(", ", _plan.Topics));
        _started.TrySetResult();

        try
        {
            await Task.WhenAll(pipeline, ingestTask).ConfigureAwait(false);
            LogStopped(_logger, _metrics.Consumed, _metrics.Produced, _metrics.DeadLettered);
        }
        catch (Exception ex) when (ex is not OperationCanceledException || abort.IsCancellationRequested)
        {
            Fatal(ex);
            throw;
        }
        finally
        {
            await stopUpdates.CancelAsync().ConfigureAwait(false);
            try
            {
                await updatesTask.ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
            }

            _slot = null;
        }
    }

    private void OnClientError(Error error)
    {
        if (error.IsFatal)
        {
            LogFatal(_logger, new KafkaException(error));
            _lifetime.StopApplication();
        }
        else
        {
            LogClientError(_logger, error.Reason);
        }
    }

    private static async Task PreprocessAsync(ChannelReader<InputRecord> input, ChannelWriter<SequenceWork> sequences, ChannelWriter<OutputSet> outputs, Preprocessor preprocessor, Postprocessor deadLetters, ModelSlot models, CancellationToken cancellationToken)
    {
        try
        {
            while (await input.WaitToReadAsync(cancellationToken).ConfigureAwait(false))
            {
                while (input.TryRead(out var record))
                {
                    switch (preprocessor.Process(record, models.Current))
                    {
                        case Accepted accepted:
                            foreach (var work in accepted.Document.Sequences)
                            {
                                await sequences.WriteAsync(work, cancellationToken).ConfigureAwait(false);
                            }

                            break;
                        case Rejected rejected:
                            await outputs.WriteAsync(deadLetters.DeadLetter(rejected), cancellationToken).ConfigureAwait(false);
                            break;
                    }
                }
            }

            sequences.TryComplete();
        }
        catch (Exception ex)
        {
            sequences.TryComplete(ex);
            throw;
        }
    }

    private static async Task PostprocessAsync(ChannelReader<Document> input, ChannelWriter<OutputSet> output, Postprocessor postprocessor, CancellationToken cancellationToken)
    {
        try
        {
            while (await input.WaitToReadAsync(cancellationToken).ConfigureAwait(false))
            {
                while (input.TryRead(out var document))
                {
                    await output.WriteAsync(postprocessor.Build(document), cancellationToken).ConfigureAwait(false);
                }
            }

            output.TryComplete();
        }
        catch (Exception ex)
        {
            output.TryComplete(ex);
            throw;
        }
    }

    private static Channel<T> Bounded<T>(int capacity) => Channel.CreateBounded<T>(new BoundedChannelOptions(capacity)
    {
        FullMode = BoundedChannelFullMode.Wait,
        SingleReader = true,
        SingleWriter = false,
    });

    [LoggerMessage(Level = LogLevel.Information, Message = "Serving bundle {Bundle} version {Version} (tasks: {Tasks})")]
    private static partial void LogServing(ILogger logger, string bundle, string version, string tasks);

    [LoggerMessage(Level = LogLevel.Information, Message = "Execution provider: {Provider} ({Reason})")]
    private static partial void LogDevice(ILogger logger, string provider, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "Processor consuming {Topics}")]
    private static partial void LogStarted(ILogger logger, string topics);

    [LoggerMessage(Level = LogLevel.Information, Message = "Processor stopped: consumed {Consumed}, produced {Produced}, dead-lettered {DeadLettered}")]
    private static partial void LogStopped(ILogger logger, long consumed, long produced, long deadLettered);

    [LoggerMessage(Level = LogLevel.Critical, Message = "Processor stopping on a fatal error")]
    private static partial void LogFatal(ILogger logger, Exception exception);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Kafka client error: {Reason}")]
    private static partial void LogClientError(ILogger logger, string reason);
}
