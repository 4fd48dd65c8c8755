using Confluent.Kafka;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using StreamBert.Service.Hosting;

namespace StreamBert.Review;

/// <summary>
/// The desk's way of reading topics, shared by its feeds: a group of the feed's own that never commits (every start reads
/// the topics whole, so the desk keeps nothing the topics do not hold), a consume loop on its own thread (it blocks in
/// librdkafka and must not hold up the host's start), a fatal client error stopping the desk, and a non-fatal one — a
/// topic not created yet, a broker away — logged while the loop goes on, so one missing topic never ends a page's feed.
/// </summary>
public abstract partial class TopicFeed(KafkaClientSettings kafka, IHostApplicationLifetime lifetime, ILogger logger) : BackgroundService
{
    /// <summary>Feed name for the log.</summary>
    protected abstract string Name { get; }

    protected abstract string BootstrapServers { get; }

    protected abstract string GroupId { get; }

    protected abstract IReadOnlyList<string> Topics { get; }

    /// <summary>One record of one of <see cref="Topics"/>; untrusted, so it must not throw on bad content.</summary>
    protected abstract void Route(ConsumeResult<string?, byte[]?> result);

    protected override Task ExecuteAsync(CancellationToken stoppingToken) =>
        Task.Factory.StartNew(() => Consume(stoppingToken), stoppingToken, TaskCreationOptions.LongRunning, TaskScheduler.Default);

    private void Consume(CancellationToken ct)
    {
        var config = kafka.ConsumerConfig(BootstrapServers, GroupId);
        config.EnableAutoCommit = false;
        config.AutoOffsetReset = AutoOffsetReset.Earliest;
        using var consumer = new ConsumerBuilder<string?, byte[]?>(config)
            .SetErrorHandler((_, e) =>
            {
                if (e.IsFatal)
                {
                    LogFatal(logger, Name, e.Reason);
                    lifetime.StopApplication();
                }
            })
            .Build();
        consumer.Subscribe(Topics);
        LogStarted(logger, Name, string.Join(", ", Topics));
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
                    LogConsumeError(logger, Name, ex.Error.Reason);
                    continue;
                }

                if (result?.Message is not null)
                {
                    Route(result);
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

    [LoggerMessage(Level = LogLevel.Information, Message = "The {Feed} feed reads {Topics}")]
    private static partial void LogStarted(ILogger logger, string feed, string topics);

    [LoggerMessage(Level = LogLevel.Warning, Message = "The {Feed} feed: {Reason}; going on")]
    private static partial void LogConsumeError(ILogger logger, string feed, string reason);

    [LoggerMessage(Level = LogLevel.Critical, Message = "Fatal Kafka error in the {Feed} feed, stopping: {Reason}")]
    private static partial void LogFatal(ILogger logger, string feed, string reason);
}
