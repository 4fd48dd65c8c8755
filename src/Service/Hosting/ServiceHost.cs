using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace StreamBert.Service.Hosting;

/// <summary>Where every StreamBert service (processor, trainer) starts: configuration sources and logging.</summary>
public static class ServiceHost
{
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
