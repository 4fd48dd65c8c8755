using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using StreamBert.Contracts;
using StreamBert.Processor.Diagnostics;
using StreamBert.Service.Diagnostics;
using StreamBert.Service.Hosting;

namespace StreamBert.Processor.Hosting;

public static class ProcessorServiceCollectionExtensions
{
    /// <summary>
    /// Adds the streaming processor, with options bound from <c>Processor</c>, <c>Topics</c> and <c>Kafka</c> and
    /// validated on start, and its metrics and health endpoints (<see cref="ObservabilityServer"/>).
    /// </summary>
    public static IServiceCollection AddStreamBertProcessor(this IServiceCollection services)
    {
        services.AddOptions<ProcessorOptions>().BindConfiguration("Processor").ValidateDataAnnotations().ValidateOnStart();
        services.AddOptions<TopicNames>().BindConfiguration("Topics").ValidateDataAnnotations().ValidateOnStart();
        services.AddOptions<KafkaClientSettings>().BindConfiguration("Kafka");

        // The served bundles are pulled from the service at scrape time (they change on a swap). The service is
        // resolved on first use, not in the factory: it depends on the metrics itself.
        services.AddSingleton<Func<IReadOnlyDictionary<string, BundleManifest>?>>(sp =>
        {
            ProcessorService? service = null;
            return () => (service ??= sp.GetRequiredService<ProcessorService>()).Models?.Bundles;
        });
        services.AddSingleton(sp => new ProcessorMetrics(sp.GetRequiredService<Func<IReadOnlyDictionary<string, BundleManifest>?>>()));
        services.AddSingleton(sp => new ProcessorHealth(
            sp.GetRequiredService<ProcessorMetrics>().Ingest,
            sp.GetRequiredService<Func<IReadOnlyDictionary<string, BundleManifest>?>>(),
            sp.GetRequiredService<IOptions<ProcessorOptions>>().Value.BrokerContactTimeout)
        {
            ModelFollower = () => sp.GetRequiredService<ProcessorService>().Updater?.FollowerProblem,
        });

        services.AddSingleton(sp => new ProcessorLiveness(
            sp.GetRequiredService<ProcessorMetrics>().Progress,
            sp.GetRequiredService<ProcessorMetrics>().Ingest,
            sp.GetRequiredService<IOptions<ProcessorOptions>>().Value.LivenessTimeout));

        services.AddOpenTelemetry()
            .ConfigureResource(resource => resource.AddService("streambert-processor"))
            .WithMetrics(metrics => metrics.AddMeter(ProcessorMetrics.MeterName).AddPrometheusExporter());
        services.AddSingleton(sp =>
        {
            var options = sp.GetRequiredService<IOptions<ProcessorOptions>>().Value;
            return new ObservabilityServer(
                new ObservabilityEndpoint(options.MetricsHost, options.MetricsPort),
                sp.GetRequiredService<MeterProvider>(),
                sp.GetRequiredService<ProcessorHealth>(),
                sp.GetRequiredService<ILoggerFactory>(),
                sp.GetRequiredService<ProcessorLiveness>());
        });

        // Registration order is start order (and the reverse of stop order): endpoints up before the models
        // load, down after the pipeline drained.
        services.AddHostedService(sp => sp.GetRequiredService<ObservabilityServer>());
        services.AddSingleton<ProcessorService>();
        services.AddHostedService(sp => sp.GetRequiredService<ProcessorService>());
        return services;
    }
}
