using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using StreamBert.Service.Diagnostics;
using StreamBert.Service.Hosting;

namespace StreamBert.Trainer;

/// <summary>The composition root of a training service process (also used in-process by the demo and tests).</summary>
public static class TrainerHost
{
    /// <summary>
    /// Configuration, lowest precedence first: <c>appsettings.json</c>, <c>STREAMBERT__</c> environment variables
    /// (<c>STREAMBERT__Trainer__MinNewLabels=200</c>), then <paramref name="overrides"/>.
    /// </summary>
    public static IHost Build(IEnumerable<KeyValuePair<string, string?>> overrides, Action<ILoggingBuilder>? logging = null)
    {
        var builder = ServiceHost.CreateBuilder(overrides, logging);
        builder.Services.AddOptions<TrainerOptions>().BindConfiguration("Trainer").ValidateDataAnnotations().ValidateOnStart();
        builder.Services.AddOptions<TrainerTopics>().BindConfiguration("Topics").ValidateDataAnnotations().ValidateOnStart();
        builder.Services.AddOptions<KafkaClientSettings>().BindConfiguration("Kafka");
        builder.Services.AddOpenTelemetry()
            .ConfigureResource(resource => resource.AddService("streambert-trainer"))
            .WithMetrics(metrics => metrics.AddMeter(TrainerService.MeterName).AddPrometheusExporter());
        builder.Services.AddSingleton<TrainerService>();
        builder.Services.AddSingleton(sp =>
        {
            var options = sp.GetRequiredService<IOptions<TrainerOptions>>().Value;
            return new ObservabilityServer(
                new ObservabilityEndpoint(options.MetricsHost, options.MetricsPort),
                sp.GetRequiredService<MeterProvider>(),
                sp.GetRequiredService<TrainerService>(),
                sp.GetRequiredService<ILoggerFactory>(),
                sp.GetRequiredService<TrainerService>());
        });
        builder.Services.AddHostedService(sp => sp.GetRequiredService<ObservabilityServer>());
        builder.Services.AddHostedService(sp => sp.GetRequiredService<TrainerService>());
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(30));
        return builder.Build();
    }
}
