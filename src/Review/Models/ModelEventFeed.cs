using Confluent.Kafka;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using StreamBert.Contracts;
using StreamBert.Kafka;
using StreamBert.Service.Hosting;

namespace StreamBert.Review.Models;

/// <summary>
/// Reads the models topic and the trainer-runs topic from the beginning into <see cref="ModelHistory"/>: which version
/// each bundle's processors were told to serve, when and why, and every training run with the gate's verdict. Like the
/// spam feed, its group never commits, so every start reads both topics whole (the history keeps the latest
/// <see cref="ModelHistory.Capacity"/> of each). Every event goes through <see cref="ModelEvents.Parse"/>, as the
/// processor's own reader does, and every run report through <see cref="TrainingRunReports.Parse"/>.
/// </summary>
internal sealed partial class ModelEventFeed(ModelHistory history, IOptions<ReviewOptions> options, IOptions<KafkaClientSettings> kafka, IHostApplicationLifetime lifetime, ILogger<ModelEventFeed> logger)
    : BackgroundService
{
    protected override Task ExecuteAsync(CancellationToken stoppingToken) =>
        // The consume loop blocks in librdkafka; on its own thread it never holds up the host's start.
        Task.Factory.StartNew(() => Consume(stoppingToken), stoppingToken, TaskCreationOptions.LongRunning, TaskScheduler.Default);

    private void Consume(CancellationToken ct)
    {
        var o = options.Value;

        // A group of its own: the spam feed's group subscribes to other topics, and a shared group would rebalance both.
        var config = kafka.Value.ConsumerConfig(o.BootstrapServers, o.GroupId + "-models");
        config.EnableAutoCommit = false;
        config.AutoOffsetReset = AutoOffsetReset.Earliest;
        using var consumer = new ConsumerBuilder<string?, byte[]?>(config)
            .SetErrorHandler((_, e) =>
            {
                if (e.IsFatal)
                {
                    LogFatal(logger, e.Reason);
                    lifetime.StopApplication();
                }
            })
            .Build();
        // One consumer for both topics: a run report and the event it led to are shown from one poll loop.
        consumer.Subscribe([o.ModelsTopic, o.TrainerRunsTopic]);
        LogStarted(logger, o.ModelsTopic, o.TrainerRunsTopic);
        try
        {
            while (!ct.IsCancellationRequested)
            {
                ConsumeResult<string?, byte[]?>? result;
                try
                {
                    result = consumer.Consume(ct);
                }
                catch (ConsumeException ex) when (!ex.Error.IsFatal)
                {
                    // A topic not created yet (trainer.runs before the first trainer starts, or a deployment that has no
                    // trainer) must not end the page's feed: the client reports it on every poll until the topic exists,
                    // and the other topic's records keep coming.
                    LogConsumeError(logger, ex.Error.Reason);
                    continue;
                }

                if (result is not { Message: { } message })
                {
                    continue;
                }

                if (result.Topic == o.TrainerRunsTopic)
                {
                    if (ReadRunReport(message.Key, message.Value) is { } report)
                    {
                        history.AddRun(new TrainingRunRecord(report, result.Partition.Value, result.Offset.Value));
                    }
                    else
                    {
                        history.AddUnreadableRun();
                        LogUnreadableRun(logger, result.TopicPartitionOffset.ToString());
                    }
                }
                else if (Read(message) is { } published)
                {
                    history.Add(new ModelEventRecord(published, result.Partition.Value, result.Offset.Value));
                }
                else
                {
                    history.AddUnreadable();
                    LogUnreadable(logger, result.TopicPartitionOffset.ToString());
                }
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
        finally
        {
            consumer.Close();
        }
    }

    /// <summary>The event, or null when it is not one a processor would accept (or its key is not its bundle).</summary>
    private static ModelPublished? Read(Message<string?, byte[]?> message)
    {
        try
        {
            var published = ModelEvents.Parse(message.Value ?? []);
            return message.Key == published.Name ? published : null;
        }
        catch (InvalidDataException)
        {
            return null;
        }
    }

    /// <summary>The report, or null when it fails <see cref="TrainingRunReports.Parse"/> or its key is not its bundle.</summary>
    internal static TrainingRunReport? ReadRunReport(string? key, byte[]? value)
    {
        try
        {
            var report = TrainingRunReports.Parse(value ?? []);
            return key == report.Bundle ? report : null;
        }
        catch (InvalidDataException)
        {
            return null;
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Models page reads {Topic} and {RunsTopic}")]
    private static partial void LogStarted(ILogger logger, string topic, string runsTopic);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Unreadable training run report at {Position}, not shown")]
    private static partial void LogUnreadableRun(ILogger logger, string position);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Unreadable models event at {Position}, not shown")]
    private static partial void LogUnreadable(ILogger logger, string position);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Models feed: {Reason}; going on")]
    private static partial void LogConsumeError(ILogger logger, string reason);

    [LoggerMessage(Level = LogLevel.Critical, Message = "Fatal Kafka error in the models feed, stopping: {Reason}")]
    private static partial void LogFatal(ILogger logger, string reason);
}
