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
    : TopicFeed(kafka.Value, lifetime, logger)
{
    protected override string Name => "models";

    protected override string BootstrapServers => options.Value.BootstrapServers;

    // A group of its own: the spam feed's group subscribes to other topics, and a shared group would rebalance both.
    protected override string GroupId => options.Value.GroupId + "-models";

    // One consumer for both topics: a run report and the event it led to are shown from one poll loop. A trainer-runs
    // topic not created yet (before the first trainer starts) only logs a warning per poll (TopicFeed).
    protected override IReadOnlyList<string> Topics => [options.Value.ModelsTopic, options.Value.TrainerRunsTopic];

    protected override void Route(ConsumeResult<string?, byte[]?> result)
    {
        var o = options.Value;
        var message = result.Message;
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

    [LoggerMessage(Level = LogLevel.Warning, Message = "Unreadable training run report at {Position}, not shown")]
    private static partial void LogUnreadableRun(ILogger logger, string position);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Unreadable models event at {Position}, not shown")]
    private static partial void LogUnreadable(ILogger logger, string position);
}
