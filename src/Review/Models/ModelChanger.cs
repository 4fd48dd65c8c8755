using Confluent.Kafka;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using StreamBert.Engine.Models;
using StreamBert.Kafka;
using StreamBert.Service.Hosting;

namespace StreamBert.Review.Models;

/// <summary>
/// The desk's promote and rollback: <see cref="ModelPromotion"/>, the path <c>streambert models promote|rollback</c>
/// takes (event on the models topic first, then CURRENT), with the reviewer's name in the log. One change at a time, so
/// two reviewers confirming at once cannot both act on the CURRENT they saw.
/// </summary>
internal sealed partial class ModelChanger(IOptions<ReviewOptions> options, IOptions<KafkaClientSettings> kafka, ILogger<ModelChanger> logger) : IDisposable
{
    private readonly SemaphoreSlim _one = new(1, 1);

    public ModelRegistry Registry { get; } = new(options.Value.Registry!);

    /// <summary>
    /// Applies <paramref name="planned"/> if the registry still plans the same change (CURRENT has not moved since the
    /// reviewer confirmed it); returns the topic position of the event, or throws <see cref="InvalidOperationException"/>
    /// with why not, or <see cref="ProduceException{TKey,TValue}"/> when the event was not acknowledged (CURRENT unchanged).
    /// </summary>
    public async Task<TopicPartitionOffset> ApplyAsync(ModelChange planned, string reviewer, CancellationToken ct)
    {
        await _one.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            var change = ModelPromotion.Plan(Registry, planned.Reason, planned.Bundle, planned.Version);
            if (change != planned)
            {
                throw new InvalidOperationException(
                    $"{planned.Bundle} changed since the confirmation: {change.Reason} now goes from {change.From ?? "none"} to {change.Version}. Reload the models page.");
            }

            LogChanging(logger, reviewer, change.Reason, change.Bundle, change.From ?? "none", change.Version);
            var config = kafka.Value.ProducerConfig(options.Value.BootstrapServers);

            // A reviewer waits on the click: an unreachable cluster fails it in 30 s rather than librdkafka's 5 minutes.
            config.MessageTimeoutMs ??= 30_000;
            try
            {
                var position = await ModelPromotion.PublishAsync(Registry, change, config, options.Value.ModelsTopic, ct).ConfigureAwait(false);
                LogChanged(logger, reviewer, change.Reason, change.Bundle, change.Version, position.ToString());
                return position;
            }
            catch (Exception ex) when (ex is KafkaException or OperationCanceledException)
            {
                LogFailed(logger, reviewer, change.Reason, change.Bundle, change.Version, ex);
                throw;
            }
        }
        finally
        {
            _one.Release();
        }
    }

    public void Dispose() => _one.Dispose();

    [LoggerMessage(Level = LogLevel.Information, Message = "Reviewer {Reviewer} confirmed {Reason} of {Bundle}: {From} → {To}; publishing on the models topic")]
    private static partial void LogChanging(ILogger logger, string reviewer, string reason, string bundle, string from, string to);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Reviewer {Reviewer}: {Reason} of {Bundle} to {Version} published at {Position}; CURRENT is now {Version}")]
    private static partial void LogChanged(ILogger logger, string reviewer, string reason, string bundle, string version, string position);

    [LoggerMessage(Level = LogLevel.Error, Message = "Reviewer {Reviewer}: {Reason} of {Bundle} to {Version} not published; CURRENT unchanged")]
    private static partial void LogFailed(ILogger logger, string reviewer, string reason, string bundle, string version, Exception exception);
}

/// <summary>Registers the models page's services: the models and trainer-runs topics' feed, the change path, and where the registry is.</summary>
internal static class ModelsServices
{
    public static IServiceCollection AddModelsPage(this IServiceCollection services)
    {
        services.AddOptions<ReviewOptions>().PostConfigure<IConfiguration>((o, configuration) =>
        {
            // The registry and models topic the processors use, where the desk's own keys do not set them.
            o.ModelsTopic = configuration[$"{ReviewOptions.Section}:ModelsTopic"] ?? configuration["Topics:Models"] ?? o.ModelsTopic;
            o.TrainerRunsTopic = configuration[$"{ReviewOptions.Section}:TrainerRunsTopic"] ?? configuration["Topics:TrainerRuns"] ?? o.TrainerRunsTopic;
            o.Registry = configuration[$"{ReviewOptions.Section}:Registry"] ?? configuration["Processor:Registry"] ?? ModelRegistry.DefaultRoot;
        });
        services.AddSingleton<ModelHistory>();
        services.AddSingleton<ModelChanger>();
        services.AddHostedService<ModelEventFeed>();
        return services;
    }
}
