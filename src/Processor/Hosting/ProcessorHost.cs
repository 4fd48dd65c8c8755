using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

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
        var builder = CreateBuilder(overrides, logging);
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(60));
        builder.Services.AddStreamBertProcessor();
        return builder.Build();
    }

    /// <summary>
    /// The host builder every StreamBert service starts from: configuration, lowest precedence first,
    /// <c>appsettings.json</c>, environment variables with the <c>STREAMBERT__</c> prefix, then
    /// <paramref name="overrides"/>; single-line console logs unless <paramref name="logging"/> configures them.
    /// </summary>
    public static HostApplicationBuilder CreateBuilder(IEnumerable<KeyValuePair<string, string?>> overrides, Action<ILoggingBuilder>? logging = null)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings
        {
            DisableDefaults = true,
            ContentRootPath = AppContext.BaseDirectory,
        });
        AddConfigurationSources(builder.Configuration).AddInMemoryCollection(overrides);
        builder.Logging.ClearProviders();
        if (logging is null)
        {
            builder.Logging.AddSimpleConsole(o =>
            {
                o.SingleLine = true;
                o.TimestampFormat = "HH:mm:ss.fff ";
            });
        }
        else
        {
            logging(builder.Logging);
        }

        return builder;
    }

    /// <summary>
    /// The configuration every StreamBert host reads below its overrides: <c>appsettings.json</c>, then environment
    /// variables with the <c>STREAMBERT__</c> prefix. The command line reads the same sources to decide what a flag
    /// that was not given falls back to.
    /// </summary>
    public static IConfigurationBuilder AddConfigurationSources(IConfigurationBuilder configuration) =>
        configuration
            .AddJsonFile(Path.Combine(AppContext.BaseDirectory, "appsettings.json"), optional: true)
            .AddJsonFile("appsettings.json", optional: true)
            .AddEnvironmentVariables("STREAMBERT__");
}
