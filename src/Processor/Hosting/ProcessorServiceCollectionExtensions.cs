using Microsoft.Extensions.DependencyInjection;
using StreamBert.Processor.Diagnostics;

namespace StreamBert.Processor.Hosting;

public static class ProcessorServiceCollectionExtensions
{
    /// <summary>Adds the streaming processor, with options bound from <c>Processor</c>, <c>Topics</c> and <c>Kafka</c> and validated on start.</summary>
    public static IServiceCollection AddStreamBertProcessor(this IServiceCollection services)
    {
        services.AddOptions<ProcessorOptions>().BindConfiguration("Processor").ValidateDataAnnotations().ValidateOnStart();
        services.AddOptions<TopicNames>().BindConfiguration("Topics").ValidateDataAnnotations().ValidateOnStart();
        services.AddOptions<KafkaClientSettings>().BindConfiguration("Kafka");
        services.AddSingleton<ProcessorMetrics>();
        services.AddSingleton<ProcessorService>();
        services.AddHostedService(sp => sp.GetRequiredService<ProcessorService>());
        return services;
    }
}
