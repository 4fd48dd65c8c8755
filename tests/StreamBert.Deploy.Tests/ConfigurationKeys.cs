using System.ComponentModel.DataAnnotations;
using Confluent.Kafka;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using StreamBert.Processor.Hosting;

namespace StreamBert.Deploy.Tests;

/// <summary>
/// Checks environment variables the way the processor host reads them (prefix <c>STREAMBERT__</c>,
/// <c>__</c> as the section separator): each must bind to a property of the options type of its section,
/// with a value that converts and passes the type's validation; Kafka client settings must be
/// properties librdkafka knows. A misspelt key would otherwise be ignored silently in production.
/// </summary>
public static class ConfigurationKeys
{
    public const string Prefix = "STREAMBERT__";

    /// <summary>
    /// Why the variable would not configure anything, or null when it is a real key with a valid value.
    /// A null <paramref name="value"/> (one from a Secret) checks the name alone.
    /// </summary>
    public static string? Problem(string variable, string? value)
    {
        if (!variable.StartsWith(Prefix, StringComparison.Ordinal))
        {
            return $"{variable} does not start with {Prefix}, so the StreamBert hosts never read it";
        }

        var path = variable[Prefix.Length..].Split("__");
        var key = string.Join(':', path);
        var config = new ConfigurationBuilder().AddInMemoryCollection([new(key, value)]).Build();
        try
        {
            return path[0] switch
            {
                "Processor" when path.Length == 2 => Validate(config.GetSection("Processor"), new ProcessorOptions()),
                "Topics" when path.Length == 2 => Validate(config.GetSection("Topics"), new TopicNames()),
                "Kafka" when path.Length == 3 && path[1] is "Consumer" or "Producer" => value is null ? null : KafkaProperty(path[1], path[2], value),
                _ => $"{variable}: {key} is not a key of a section the hosts bind (Processor:<option>, Topics:<topic>, Kafka:Consumer|Producer:<librdkafka property>)",
            };
        }
        catch (InvalidOperationException ex)
        {
            return $"{variable}: {ex.Message}";
        }
    }

    /// <summary>The host's graceful shutdown timeout: stop grace periods must be longer.</summary>
    public static TimeSpan ProcessorShutdownTimeout()
    {
        using var host = ProcessorHost.Build([]);
        return host.Services.GetRequiredService<IOptions<Microsoft.Extensions.Hosting.HostOptions>>().Value.ShutdownTimeout;
    }

    private static string? Validate<T>(IConfigurationSection section, T options)
        where T : class
    {
        // Binds like AddOptions<T>().BindConfiguration(), but an unknown key throws instead of being ignored.
        section.Bind(options, o => o.ErrorOnUnknownConfiguration = true);

        // Only the property this variable sets: the others keep their defaults, some of which are
        // required values supplied elsewhere (the registry comes from the command line).
        var property = typeof(T).GetProperties().Single(p => section.GetChildren().Single().Key.Equals(p.Name, StringComparison.OrdinalIgnoreCase));
        var results = new List<ValidationResult>();
        return Validator.TryValidateProperty(property.GetValue(options), new ValidationContext(options) { MemberName = property.Name }, results)
            ? null
            : string.Join("; ", results.Select(r => r.ErrorMessage));
    }

    /// <summary>librdkafka validates property names and values when a client is created (no connection is needed for that).</summary>
    private static string? KafkaProperty(string client, string property, string value)
    {
        var settings = new Dictionary<string, string> { ["bootstrap.servers"] = "127.0.0.1:9", [property] = value };
        try
        {
            if (client == "Consumer")
            {
                settings["group.id"] = "deploy-tests";
                using var consumer = new ConsumerBuilder<Ignore, Ignore>(settings).Build();
            }
            else
            {
                using var producer = new ProducerBuilder<Null, Null>(settings).Build();
            }

            return null;
        }
        catch (ArgumentException ex)
        {
            return $"Kafka:{client}:{property}={value}: {ex.Message}";
        }
        catch (KafkaException ex)
        {
            return $"Kafka:{client}:{property}={value}: {ex.Message}";
        }
    }
}
