using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using StreamBert.Service.Hosting;

namespace StreamBert.Processor.Hosting;

/// <summary>The composition root of a processor process (also used in-process by the demo and tests).</summary>
public static class ProcessorHost
{
    /// <summary>
    /// Configuration, lowest precedence first: <c>appsettings.json</c>, environment variables with the
    /// <c>STREAMBERT__</c> prefix (<c>STREAMBERT__Processor__MaxBatchTokens=8192</c>), then <paramref name="overrides"/>.
    /// </summary>
    public static IHost Build(IEnumerable<KeyValuePair<string, string?>> overrides, Action<ILoggingBuilder>? logging = null)
    {
        var builder = ServiceHost.CreateBuilder(overrides, logging);
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(60));
        builder.Services.AddStreamBertProcessor();
        return builder.Build();
    }
}
